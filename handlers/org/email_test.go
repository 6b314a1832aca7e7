package org_test

import (
	"errors"
	"strings"
	"testing"
	"unicode"

	"github.com/usher-chat/usher/handlers/org"
)

func TestNormalizeEmail(t *testing.T) {
	long := func(n int) string { // a valid-shaped address of exactly n bytes: 64-byte local part (RFC 5321's limit), long domain
		local := strings.Repeat("a", 64)
		rest := n - len(local) - 1 - len(".com") // label bytes and the dots between them
		var labels []string
		for rest > 0 {
			l := min(63, rest)
			if rest-l == 1 { // leave room for a dot and a one-byte label
				l--
			}
			labels = append(labels, strings.Repeat("b", l))
			if rest -= l; rest > 0 {
				rest-- // the dot
			}
		}
		return local + "@" + strings.Join(labels, ".") + ".com"
	}
	tests := []struct {
		name string
		in   string
		want string // "" means: must be rejected with CodeInvalid
	}{
		{"plain", "bob@example.com", "bob@example.com"},
		{"trimmed", "  bob@example.com\t\n", "bob@example.com"},
		{"domain lower-cased", "bob@EXAMPLE.Com", "bob@example.com"},
		{"local part lower-cased too: one person", "Bob.Smith@Example.COM", "bob.smith@example.com"},
		{"all capitals", "BOB@EXAMPLE.COM", "bob@example.com"},
		{"display name form", "Bob <bob@x.com>", "bob@x.com"},
		{"quoted display name form", `"Smith, Bob" <Bob@X.com>`, "bob@x.com"},
		{"mailto prefix", "mailto:bob@x.com", "bob@x.com"},
		{"mailto prefix after spaces", "  mailto:Bob@X.COM ", "bob@x.com"},
		{"plus addressing", "bob+usher@x.co.uk", "bob+usher@x.co.uk"},
		{"subdomain", "a@mail.corp.example.org", "a@mail.corp.example.org"},
		{"exactly 254 characters", long(254), long(254)},

		{"empty", "", ""},
		{"only spaces", "   ", ""},
		{"only mailto", "mailto:", ""},
		{"no at sign", "bob.example.com", ""},
		{"no local part", "@example.com", ""},
		{"no domain", "bob@", ""},
		{"no dot in domain", "bob@localhost", ""},
		{"domain starts with a dot", "bob@.example.com", ""},
		{"domain ends with a dot", "bob@example.com.", ""},
		{"space in local part", "bob smith@example.com", ""},
		{"space in domain", "bob@exa mple.com", ""},
		{"quoted local part with a space", `"bob smith"@example.com`, ""},
		{"two addresses", "bob@x.com, alice@y.com", ""},
		{"two at signs", "bob@x@y.com", ""},
		{"255 characters", long(255), ""},
		{"far too long", long(1000), ""},
		{"angle brackets without an address", "Bob <>", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := org.NormalizeEmail(tt.in)
			if tt.want == "" {
				if err == nil {
					t.Fatalf("NormalizeEmail(%q) = %q, want an error", tt.in, got)
				}
				if code := org.ErrorCode(err); code != org.CodeInvalid {
					t.Fatalf("NormalizeEmail(%q) error code = %q, want %q (err: %v)", tt.in, code, org.CodeInvalid, err)
				}
				if got != "" {
					t.Errorf("NormalizeEmail(%q) returned %q along with an error", tt.in, got)
				}
				return
			}
			if err != nil {
				t.Fatalf("NormalizeEmail(%q) error: %v", tt.in, err)
			}
			if got != tt.want {
				t.Fatalf("NormalizeEmail(%q) = %q, want %q", tt.in, got, tt.want)
			}
			// Normalizing twice changes nothing.
			again, err := org.NormalizeEmail(got)
			if err != nil || again != got {
				t.Fatalf("NormalizeEmail(%q) = %q, %v; want it unchanged", got, again, err)
			}
		})
	}
}

func TestNormalizeEmailMessages(t *testing.T) {
	_, err := org.NormalizeEmail("nope")
	var e *org.Error
	if !errors.As(err, &e) {
		t.Fatalf("err = %v, want *org.Error", err)
	}
	if !strings.Contains(e.Message, `"nope"`) || !strings.Contains(e.Hint, "bob@example.com") {
		t.Errorf("message %q / hint %q should quote the input and show an example", e.Message, e.Hint)
	}
	_, err = org.NormalizeEmail(strings.Repeat("a", 300) + "@example.com")
	if err == nil || !strings.Contains(err.Error(), "254") {
		t.Errorf("too long: err = %v, want it to name the 254 limit", err)
	}
	_, err = org.NormalizeEmail(" ")
	if err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("empty: err = %v, want it to say the address is missing", err)
	}
}

func TestEmailDomain(t *testing.T) {
	tests := []struct{ in, want string }{
		{"bob@example.com", "example.com"},
		{"Bob@mail.example.co.uk", "mail.example.co.uk"},
		{"a@b.c", "b.c"},
		{"no-at-sign", "no-at-sign"},
		{"trailing@", ""},
	}
	for _, tt := range tests {
		if got := org.EmailDomain(tt.in); got != tt.want {
			t.Errorf("EmailDomain(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func FuzzNormalizeEmail(f *testing.F) {
	for _, s := range []string{
		"bob@example.com", "Bob <Bob@EXAMPLE.com>", "mailto:bob@x.com", " a@b.c ",
		"bob", "@", "a@b", "bob@[1.2.3.4]", "bob@x.com (Bob)", `"x y"@z.com`,
		"bob@ÉXAMPLE.com", strings.Repeat("a", 250) + "@x.com", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out, err := org.NormalizeEmail(in)
		id, spelling, serr := org.SpellEmail(in)
		if (serr == nil) != (err == nil) || id != out {
			t.Fatalf("NormalizeEmail(%q) = %q, %v but SpellEmail gives %q, %v", in, out, err, id, serr)
		}
		if trimmed := strings.TrimSpace(in); err == nil && !strings.HasPrefix(strings.ToLower(trimmed), "mailto:") {
			// The fast path for bare addresses must agree with the full parser.
			if full, ferr := org.ParseAddress(trimmed); ferr != nil || full != out {
				t.Fatalf("NormalizeEmail(%q) = %q, but the full parser gives %q, %v", in, out, full, ferr)
			}
			if full, _ := org.ParseSpelling(trimmed); full != spelling {
				t.Fatalf("SpellEmail(%q) spells %q, but the full parser spells %q", in, spelling, full)
			}
		}
		if err != nil {
			if org.ErrorCode(err) != org.CodeInvalid {
				t.Fatalf("NormalizeEmail(%q) error %v has code %q, want %q", in, err, org.ErrorCode(err), org.CodeInvalid)
			}
			return
		}
		if !strings.Contains(out, "@") {
			t.Fatalf("NormalizeEmail(%q) = %q has no '@'", in, out)
		}
		// The identity rule: the whole address is lower-case, it is its own
		// key, and every spelling of it is the same person.
		if out != strings.ToLower(out) || org.EmailKey(out) != out {
			t.Fatalf("NormalizeEmail(%q) = %q is not lower-case as a whole", in, out)
		}
		for _, twin := range []string{asciiCase(in, unicode.ToUpper), asciiCase(in, unicode.ToLower)} {
			if o2, err := org.NormalizeEmail(twin); err != nil || o2 != out {
				t.Fatalf("NormalizeEmail(%q) = %q, but its case twin %q gives %q, %v", in, out, twin, o2, err)
			}
		}
		// The spelling is one of the identity's spellings, with the domain
		// lower-cased, and it is a valid address spelling itself again.
		if strings.ToLower(spelling) != out || org.EmailDomain(spelling) != org.EmailDomain(out) {
			t.Fatalf("SpellEmail(%q) spells %q, which is not a spelling of %q with its domain lower-cased", in, spelling, out)
		}
		if id2, sp2, err := org.SpellEmail(spelling); err != nil || id2 != out || sp2 != spelling {
			t.Fatalf("SpellEmail(%q) = %q, %q, %v; want %q, %q (spelling is stable)", spelling, id2, sp2, err, out, spelling)
		}
		if len(out) > 254 {
			t.Fatalf("NormalizeEmail(%q) = %q is longer than 254 bytes", in, out)
		}
		again, err := org.NormalizeEmail(out)
		if err != nil {
			t.Fatalf("NormalizeEmail(%q) = %q, but normalizing that fails: %v", in, out, err)
		}
		if again != out {
			t.Fatalf("NormalizeEmail(%q) = %q, but normalizing that gives %q", in, out, again)
		}
	})
}

// asciiCase maps the ASCII letters of s only: Unicode's case mappings turn
// some non-ASCII letters into ASCII ones (ſ -> S, K -> k), which would make a
// rejected input's "twin" valid.
func asciiCase(s string, to func(rune) rune) string {
	return strings.Map(func(r rune) rune {
		if r < 0x80 {
			return to(r)
		}
		return r
	}, s)
}

func TestSpellEmail(t *testing.T) {
	tests := []struct{ in, id, spelling string }{
		{"bob@example.com", "bob@example.com", "bob@example.com"},
		{"  Bob.Smith@Example.COM ", "bob.smith@example.com", "Bob.Smith@example.com"},
		{`"Smith, Bob" <Bob@X.com>`, "bob@x.com", "Bob@x.com"},
		{"mailto:BOB@X.COM", "bob@x.com", "BOB@x.com"},
	}
	for _, tt := range tests {
		id, sp, err := org.SpellEmail(tt.in)
		if err != nil || id != tt.id || sp != tt.spelling {
			t.Errorf("SpellEmail(%q) = %q, %q, %v; want %q, %q", tt.in, id, sp, err, tt.id, tt.spelling)
		}
	}
	if _, _, err := org.SpellEmail("nope"); org.ErrorCode(err) != org.CodeInvalid {
		t.Errorf("SpellEmail(nope) err = %v, want %s", err, org.CodeInvalid)
	}
}

func TestDisplay(t *testing.T) {
	tests := []struct{ id, spelling, want string }{
		{"bob@x.com", "", "bob@x.com"},            // stored before spellings were kept
		{"bob@x.com", "Bob@x.com", "Bob@x.com"},   // as typed
		{"bob@x.com", "alice@x.com", "bob@x.com"}, // damaged: never show someone else
		{"bob@x.com", "Bob@X.com", "Bob@X.com"},   // a spelling, even with a capitalized domain
	}
	for _, tt := range tests {
		u := &org.User{Email: tt.id, Spelling: tt.spelling}
		inv := &org.Invitation{Email: tt.id, Spelling: tt.spelling}
		if u.Display() != tt.want || inv.Display() != tt.want || u.DisplayName() != tt.want {
			t.Errorf("Display(%q, %q) = %q / %q / %q, want %q", tt.id, tt.spelling, u.Display(), inv.Display(), u.DisplayName(), tt.want)
		}
	}
}

func TestSameEmail(t *testing.T) {
	if !org.SameEmail("Bob@Example.com", "bob@example.COM") || org.SameEmail("bob@example.com", "bob2@example.com") {
		t.Fatal("SameEmail compares whole addresses case-insensitively")
	}
	if got := org.EmailKey("Bob.Smith@Example.com"); got != "bob.smith@example.com" {
		t.Fatalf("EmailKey = %q", got)
	}
}
