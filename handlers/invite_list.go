package handlers

import (
	"strconv"
	"strings"
	"unicode"

	"github.com/usher-chat/usher/handlers/org"
)

const (
	// maxInvite is how many addresses one invite command takes (issue 17).
	maxInvite = 1000
	// bulkOver is the size above which an invite is a bulk invite: answered
	// with counts and examples rather than a row per person, committed in
	// batches, and followed by one progress message instead of a notice per
	// delivery. Up to it, every address gets its own row and buttons.
	bulkOver = 20
	// maxWords bounds the words read from one command, before any address
	// is checked: a paste of anything at all costs at most this much.
	maxWords = 4 * maxInvite
)

// addressList is an invite command's addresses, read: the identities named
// (each once, in order, with how each was first spelled), the repeats and
// what is not an address at all.
type addressList struct {
	Emails    []string
	Spellings map[string]string
	// Repeats are addresses named again (as typed the second time), in order.
	Repeats []string
	// Invalid are the words that are not addresses, as typed, each once.
	Invalid []string
	// FirstError is why Invalid[0] was refused.
	FirstError error
}

// Size is how many distinct things were named.
func (l addressList) Size() int { return len(l.Emails) + len(l.Invalid) }

// parseAddressList reads the addresses of an invite command's arguments as
// people paste them: separated by commas, semicolons, spaces, tabs or line
// breaks, from a mail client's "Bob Smith <bob@example.com>; ..." too (the
// name's words before an <address> are left out).
func parseAddressList(args []string) (addressList, error) {
	var words []string
	for _, a := range args {
		for _, w := range strings.FieldsFunc(a, func(r rune) bool { return r == ',' || r == ';' || unicode.IsSpace(r) }) {
			words = append(words, w)
			if len(words) > maxWords {
				return addressList{}, org.Errorf(org.CodeInvalid, "That is more than %d words; invite at most %s addresses at once.", maxWords, thousands(maxInvite)).
					WithHint("Split the list and invite each part.")
			}
		}
	}
	l := addressList{Spellings: map[string]string{}}
	seenBad := map[string]bool{}
	for i, w := range words {
		if !strings.Contains(w, "@") && followedByAngle(words[i+1:]) {
			continue // a display name: "Bob Smith <bob@example.com>"
		}
		e, sp, err := org.SpellEmail(w)
		if err != nil {
			if !seenBad[w] {
				seenBad[w] = true
				l.Invalid = append(l.Invalid, w)
				if l.FirstError == nil {
					l.FirstError = err
				}
			}
			continue
		}
		if _, dup := l.Spellings[e]; dup {
			l.Repeats = append(l.Repeats, sp)
			continue
		}
		l.Emails = append(l.Emails, e)
		l.Spellings[e] = sp
		if l.Size() > maxInvite {
			return addressList{}, org.Errorf(org.CodeInvalid, "That is more than %s addresses; invite at most %s at once.", thousands(maxInvite), thousands(maxInvite)).
				WithHint("Split the list and invite each part.")
		}
	}
	if l.Size() > maxInvite {
		return addressList{}, org.Errorf(org.CodeInvalid, "That is more than %s addresses; invite at most %s at once.", thousands(maxInvite), thousands(maxInvite)).
			WithHint("Split the list and invite each part.")
	}
	if len(l.Emails) == 0 && len(l.Invalid) == 0 {
		return addressList{}, org.Errorf(org.CodeInvalid, "Name at least one email address.")
	}
	return l, nil
}

// followedByAngle reports whether the words up to the next address-looking
// one end in an <address>: the words are then a display name.
func followedByAngle(rest []string) bool {
	for _, w := range rest {
		if strings.Contains(w, "@") {
			return strings.HasPrefix(w, "<")
		}
	}
	return false
}

// thousands writes n with a comma between thousands: 1,000.
func thousands(n int) string {
	if n < 0 {
		return "-" + thousands(-n)
	}
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
