package handlers

import (
	"strings"
	"testing"

	"github.com/usher-chat/usher/handlers/org"
)

func TestParseAddressList(t *testing.T) {
	l, err := parseAddressList([]string{"a@x.com,B@X.com;c@x.com\nA@x.com", "Bob Smith <bob@x.com>", "nope", "nope", "d@x.com\t e@x.com"})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(l.Emails, " "); got != "a@x.com b@x.com c@x.com bob@x.com d@x.com e@x.com" {
		t.Errorf("emails %s", got)
	}
	if l.Spellings["b@x.com"] != "B@x.com" || strings.Join(l.Repeats, " ") != "A@x.com" || strings.Join(l.Invalid, " ") != "nope" || l.FirstError == nil {
		t.Errorf("spellings %v, repeats %v, invalid %v (%v)", l.Spellings, l.Repeats, l.Invalid, l.FirstError)
	}
	// As the command's tokenizer hands over "Bob Smith <bob@x.com>; junk, Carol <c@x.com>".
	l, err = parseAddressList([]string{"Bob", "Smith", "<bob@x.com>;", "junk,", "Carol", "<c@x.com>"})
	if err != nil || strings.Join(l.Emails, " ") != "bob@x.com c@x.com" || strings.Join(l.Invalid, " ") != "junk" {
		t.Errorf("display names: %v %v %v", l.Emails, l.Invalid, err)
	}
	if _, err := parseAddressList([]string{" , ;"}); org.ErrorCode(err) != org.CodeInvalid {
		t.Errorf("no address: %v", err)
	}
}

// FuzzParseAddressList: whatever is pasted, the list is bounded, every
// address in it is a valid identity named once with a spelling of its own,
// every repeat is of one of them, and every word refused is no address.
func FuzzParseAddressList(f *testing.F) {
	for _, s := range []string{"a@x.com, b@x.com", "Bob <bob@x.com>; carol@x.com\n", "A@x.com a@X.COM", "mailto:z@x.com", "x", "<@>", "\"a b\"@x.com", "a@b@c.com,,;;"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		l, err := parseAddressList(strings.Split(s, "|"))
		if err != nil {
			if org.ErrorCode(err) != org.CodeInvalid {
				t.Fatalf("%q: error %v is not a usage error", s, err)
			}
			return
		}
		if l.Size() == 0 || l.Size() > maxInvite {
			t.Fatalf("%q: %d named", s, l.Size())
		}
		seen := map[string]bool{}
		for _, e := range l.Emails {
			id, err := org.NormalizeEmail(e)
			if err != nil || id != e || seen[e] {
				t.Fatalf("%q: %q is not a valid identity named once (%v)", s, e, err)
			}
			seen[e] = true
			if org.EmailKey(l.Spellings[e]) != e {
				t.Fatalf("%q: %q spelled %q", s, e, l.Spellings[e])
			}
		}
		for _, r := range l.Repeats {
			if !seen[org.EmailKey(r)] {
				t.Fatalf("%q: repeat %q of nobody named", s, r)
			}
		}
		for _, w := range l.Invalid {
			if _, _, err := org.SpellEmail(w); err == nil {
				t.Fatalf("%q: %q refused, yet it is an address", s, w)
			}
		}
	})
}
