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
	// Words, with "" marking where an entry of the list ends: at a comma, a
	// semicolon or a line break. The command's own tokenizer has already
	// turned line breaks between arguments into spaces, so a list pasted
	// one per line arrives as one address per argument, which is as good.
	var words []string
	for _, a := range args {
		pieces := strings.FieldsFunc(a, func(r rune) bool { return r == ',' || r == ';' || r == '\n' || r == '\r' })
		for k, piece := range pieces {
			words = append(words, strings.FieldsFunc(piece, unicode.IsSpace)...)
			if k < len(pieces)-1 || strings.ContainsAny(a[len(a)-1:], ",;\n\r") {
				words = append(words, "")
			}
			if len(words) > maxWords {
				return addressList{}, org.Errorf(org.CodeInvalid, "That is more than %d words; invite at most %s addresses at once.", maxWords, thousands(maxInvite)).
					WithHint("Split the list and invite each part.")
			}
		}
	}
	words = dropDisplayNames(words)
	l := addressList{Spellings: map[string]string{}}
	seenBad := map[string]bool{}
	for _, w := range words {
		if w == "" {
			continue
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
			break
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

// dropDisplayNames leaves out the display names of a mail client's list,
// "Bob Smith <bob@example.com>": the words of an entry (no "@" in them)
// right before an address in angle brackets.
func dropDisplayNames(words []string) []string {
	out := words[:0:0]
	run := -1 // where the current run of words without "@" started in out
	for _, w := range words {
		switch {
		case w == "" || strings.Contains(w, "@") && !strings.HasPrefix(w, "<"):
			run = -1
		case strings.HasPrefix(w, "<") && strings.Contains(w, "@"):
			if run >= 0 {
				out = out[:run]
			}
			run = -1
		case run < 0:
			run = len(out)
		}
		out = append(out, w)
	}
	return out
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
