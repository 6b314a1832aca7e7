package org

import (
	"strings"
	"testing"
)

func TestCheckNewPassword(t *testing.T) {
	const email = "robert.smith@example.com"
	good := "correct mule staple orbit"
	tests := []struct {
		name, password, confirm string
		want                    string // a piece of the message; "" means accepted
	}{
		{"accepted", good, good, ""},
		{"twelve characters exactly", "tq7#vor!plex", "tq7#vor!plex", ""},
		{"unicode counts runes", "ça ira très bien", "ça ira très bien", ""},
		{"empty", "", "", "Choose a password"},
		{"eleven characters", "tq7#vor!ple", "tq7#vor!ple", "too short: it has 11"},
		{"eleven runes, more bytes", "ééééé-ñandú", "ééééé-ñandú", "too short"},
		{"too long", strings.Repeat("abcdefgh", 33), strings.Repeat("abcdefgh", 33), "too long"},
		{"control character", "tq7#vor!plex\x00", "tq7#vor!plex\x00", "can't be typed"},
		{"invalid utf-8", "tq7#vor!plex\xff", "tq7#vor!plex\xff", "can't be typed"},
		{"common, whole", "123456789012", "123456789012", "too common"},
		{"common, any case", "QwertyUiop123", "QwertyUiop123", "too common"},
		{"common word with digits and symbols", "Password2024!", "Password2024!", "too common"},
		{"common word around digits", "2024welcome!!", "2024welcome!!", "too common"},
		{"common phrase with spaces", "correct horse battery staple", "correct horse battery staple", "too common"},
		{"common word repeated", "passwordpassword", "passwordpassword", "too common"},
		{"one character", "aaaaaaaaaaaaaa", "aaaaaaaaaaaaaa", "too easy"},
		{"two characters alternating", "abababababab", "abababababab", "too easy"},
		{"short unit repeated", "xq7!kxq7!kxq7!k", "xq7!kxq7!kxq7!k", "too easy"},
		{"contains the email", "my " + email + " pw", "my " + email + " pw", "email address"},
		{"contains the local part", "Robert.Smith-rocks", "Robert.Smith-rocks", "email address"},
		{"mismatch", good, good + " ", "don't match"},
		{"mismatch reported after the policy", "short", "other", "too short"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckNewPassword(tt.password, tt.confirm, email)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("accepted; want %q", tt.want)
			}
			if ErrorCode(err) != CodeInvalid {
				t.Errorf("code %q, want invalid", ErrorCode(err))
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("message %q, want it to contain %q", err.Error(), tt.want)
			}
		})
	}
}

func TestShortLocalPartIsNotAContextWord(t *testing.T) {
	// "bob" would refuse "bobsled crossing yard", which is no weaker for it.
	if err := CheckNewPassword("bobsled crossing yard", "bobsled crossing yard", "bob@example.com"); err != nil {
		t.Fatal(err)
	}
}

func TestCommonPasswordListIsLowerCase(t *testing.T) {
	for p := range commonPasswords {
		if p != strings.ToLower(p) {
			t.Errorf("%q: the list must be lower case (lookups lower-case the input)", p)
		}
	}
	if len(commonPasswords) < 100 {
		t.Errorf("only %d common passwords", len(commonPasswords))
	}
}

func FuzzCheckNewPassword(f *testing.F) {
	for _, s := range []string{"", "Password2024!", "correct mule staple orbit", "ababab", "\xff\xfe"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		err := CheckNewPassword(p, p, "someone@example.com")
		if err != nil && ErrorCode(err) != CodeInvalid {
			t.Fatalf("%q: %v without the invalid code", p, err)
		}
	})
}
