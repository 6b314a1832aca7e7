package org_test

import (
	"errors"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/usher-chat/usher/handlers/org"
)

func TestCleanText(t *testing.T) {
	tests := []struct {
		name, in string
		lines    bool
		want     string
		refused  string // a part of the error message, when refused
	}{
		{name: "plain", in: "Welcome aboard", want: "Welcome aboard"},
		{name: "trimmed and collapsed", in: "  Welcome \t aboard  ", want: "Welcome aboard"},
		{name: "a line break in one line of text", in: "Acme\nCorp", want: "Acme Corp"},
		{name: "no-break space", in: "Acme\u00a0Corp", want: "Acme Corp"},
		{name: "right-to-left text with marks", in: "\u05e9\u05dc\u05d5\u05dd\u200f Acme", want: "\u05e9\u05dc\u05d5\u05dd\u200f Acme"},
		{name: "emoji with a zero-width joiner", in: "team \U0001f469\u200d\U0001f4bb", want: "team \U0001f469\u200d\U0001f4bb"},
		{name: "markdown is text", in: "[Accept](https://evil.example) **now**", want: "[Accept](https://evil.example) **now**"},
		{name: "NUL", in: "Welcome\x00", refused: "contains a control character (U+0000 NULL); remove it."},
		{name: "escape", in: "\x1b[31mred", refused: "U+001B ESCAPE"},
		{name: "DEL", in: "a\x7fb", refused: "U+007F DELETE"},
		{name: "bell", in: "a\ab", refused: "U+0007 BELL"},
		{name: "C1 control", in: "a\u0090b", refused: "a control character (U+0090)"},
		{name: "next line (C1)", in: "a\u0085b", refused: "U+0085 NEXT LINE"},
		{name: "right-to-left override", in: "moc.elpmaxe\u202e", refused: "a bidirectional control character (U+202E RIGHT-TO-LEFT OVERRIDE)"},
		{name: "left-to-right override", in: "\u202dx", refused: "U+202D LEFT-TO-RIGHT OVERRIDE"},
		{name: "embedding", in: "\u202bx\u202c", refused: "U+202B RIGHT-TO-LEFT EMBEDDING"},
		{name: "isolate", in: "\u2067x\u2069", refused: "U+2067 RIGHT-TO-LEFT ISOLATE"},
		{name: "first strong isolate", in: "\u2068x", refused: "U+2068 FIRST STRONG ISOLATE"},
		{name: "invalid UTF-8", in: "caf\xe9", refused: "is not valid UTF-8"},

		{name: "note: lines kept", in: "Hi Bob,\nwelcome.", lines: true, want: "Hi Bob,\nwelcome."},
		{name: "note: CR LF and CR", in: "a\r\nb\rc", lines: true, want: "a\nb\nc"},
		{name: "note: line and paragraph separators", in: "a\u2028b\u2029c", lines: true, want: "a\nb\nc"},
		{name: "note: one blank line at most, none at the ends", in: "\n\na\n\n\n\nb  \n\n", lines: true, want: "a\n\nb"},
		{name: "note: tabs", in: "a\tb", lines: true, want: "a b"},
		{name: "note: NUL", in: "a\n\x00", lines: true, refused: "U+0000 NULL"},
		{name: "note: override", in: "a\n\u202e", lines: true, refused: "U+202E RIGHT-TO-LEFT OVERRIDE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clean := org.CleanText
			if tt.lines {
				clean = org.CleanLines
			}
			got, err := clean("The note", tt.in)
			if tt.refused == "" {
				if err != nil || got != tt.want {
					t.Fatalf("= %q, %v; want %q", got, err, tt.want)
				}
				return
			}
			var e *org.Error
			if !errors.As(err, &e) || e.Code != org.CodeInvalid || e.Hint == "" {
				t.Fatalf("= %q, %#v; want an invalid-input error with a hint", got, err)
			}
			if !strings.HasPrefix(e.Message, "The note ") || !strings.Contains(e.Message, tt.refused) {
				t.Errorf("message %q, want it to say %q", e.Message, tt.refused)
			}
		})
	}
}

func TestStripText(t *testing.T) {
	for in, want := range map[string]string{
		"Bob":                            "Bob",
		"  Bob \t Smith\n":               "Bob Smith",
		"Bob\u202e\x00 Smith":            "Bob Smith",
		"\u2067nimda\u2069":              "nimda",
		"caf\xe9":                        "caf",
		"\u05e9\u05dc\u05d5\u05dd\u200f": "\u05e9\u05dc\u05d5\u05dd\u200f",
	} {
		if got := org.StripText(in); got != want {
			t.Errorf("StripText(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzCleanText: whatever people type, accepted text carries no control or
// bidirectional control character, is valid UTF-8 and trimmed; cleaning it
// again changes nothing; StripText always yields text CleanText accepts as is.
func FuzzCleanText(f *testing.F) {
	for _, s := range []string{"Welcome aboard", "a\x00b", "moc.elpmaxe\u202e", "a\r\n\r\n\r\nb", "\u2028\u2029", "caf\xe9", "\u0085", " \t "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		bad := func(r rune) bool {
			return r != '\n' && unicode.Is(unicode.Cc, r) || r >= 0x202a && r <= 0x202e || r >= 0x2066 && r <= 0x2069
		}
		for _, lines := range []bool{false, true} {
			clean := org.CleanText
			if lines {
				clean = org.CleanLines
			}
			got, err := clean("The note", s)
			if err != nil {
				if org.ErrorCode(err) != org.CodeInvalid {
					t.Fatalf("%q: %v is not an invalid-input error", s, err)
				}
				continue
			}
			if !utf8.ValidString(got) || strings.ContainsFunc(got, bad) || strings.TrimSpace(got) != got {
				t.Fatalf("%q accepted as %q", s, got)
			}
			if !lines && strings.Contains(got, "\n") {
				t.Fatalf("%q: one line of text kept a line break: %q", s, got)
			}
			if again, err := clean("The note", got); err != nil || again != got {
				t.Fatalf("%q: cleaning %q again gave %q, %v", s, got, again, err)
			}
		}
		stripped := org.StripText(s)
		if got, err := org.CleanText("The name", stripped); err != nil || got != stripped {
			t.Fatalf("%q: StripText gave %q, which CleanText makes %q, %v", s, stripped, got, err)
		}
	})
}

// CleanLines runs for every invitation, most of them without a note. Its
// line-break Replacer (multi-byte keys: a generic one, built on first use)
// is made once; built on every call it took 11 more allocations than the
// whole cleaning does (13 for an empty note, now 2).
func TestCleanLinesBuildsNothingPerCall(t *testing.T) {
	for note, most := range map[string]float64{"": 2, "line one\r\nline two": 11} {
		if n := testing.AllocsPerRun(100, func() { org.CleanLines("The note", note) }); n > most {
			t.Errorf("CleanLines(%q): %.0f allocations, want at most %.0f", note, n, most)
		}
	}
}
