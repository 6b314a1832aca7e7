package org

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Free text (an invitation's note, the organization's name, every setting's
// value, display names) reaches other people's screens on four platforms, so
// it must not carry characters that hide or disguise what it says:
//
//   - control characters (Unicode Cc: C0, DEL and C1), such as NUL or ESC,
//     which terminals, logs and some clients act on or drop;
//   - the bidirectional embeddings, overrides and isolates (U+202A-U+202E,
//     U+2066-U+2069), which reorder what is shown (the "Trojan Source" trick,
//     CVE-2021-42574): "moc.elpmaxe@lla" in RLO reads as a different text.
//
// Typed text with one of them is refused, naming the character, rather than
// silently cleaned: whoever typed it learns that what they pasted was not what
// they saw, and nothing is shown differently from what they sent. The
// implicit marks LRM, RLM and ALM (U+200E, U+200F, U+061C) are allowed: they
// only nudge neutral characters next to them and right-to-left writers need
// them. So are the zero-width joiners, which emoji and several scripts need.
//
// Whitespace is normalized, not refused: a tab becomes a space; in one-line
// text (CleanText) every run of whitespace, line breaks included, becomes one
// space; in a note (CleanLines) CR LF, CR, U+2028 and U+2029 become LF, at
// most one blank line is kept in a row and the ends of lines are trimmed.
//
// Names that come from a chat platform's profile (StripText) cannot be sent
// back to be fixed, so there the same characters are dropped instead.

// CleanText checks one line of free text typed by a person; what names it in
// the error ("The note", "The value of name"). It returns the text trimmed,
// with its whitespace collapsed, or an *Error of CodeInvalid.
func CleanText(what, s string) (string, error) {
	if err := checkText(what, s); err != nil {
		return "", err
	}
	return strings.Join(strings.FieldsFunc(s, isSpace), " "), nil
}

// lineBreaks turns every way of breaking a line into "\n". A Replacer is
// built on its first use, and a generic one (multi-byte keys) costs more to
// build than to run: made once here, not on every call.
var lineBreaks = strings.NewReplacer("\r\n", "\n", "\r", "\n", "\u2028", "\n", "\u2029", "\n")

// CleanLines is CleanText for text that may have several lines (a note).
func CleanLines(what, s string) (string, error) {
	if err := checkText(what, s); err != nil {
		return "", err
	}
	s = lineBreaks.Replace(s)
	var out []string
	blank := false
	for _, line := range strings.Split(s, "\n") {
		line = strings.Join(strings.FieldsFunc(line, isSpace), " ")
		if line == "" {
			blank = len(out) > 0
			continue
		}
		if blank {
			out = append(out, "")
			blank = false
		}
		out = append(out, line)
	}
	return strings.Join(out, "\n"), nil
}

// StripText drops what CleanText refuses and collapses whitespace, for text
// usher cannot refuse (a display name from a Slack or Teams profile).
func StripText(s string) string {
	s = strings.ToValidUTF8(s, "")
	s = strings.Map(func(r rune) rune {
		if isSpace(r) {
			return ' '
		}
		if forbidden(r) {
			return -1
		}
		return r
	}, s)
	return strings.Join(strings.Fields(s), " ")
}

func checkText(what, s string) error {
	if !utf8.ValidString(s) {
		return Errorf(CodeInvalid, "%s is not valid UTF-8 text.", what).
			WithHint("Type it again, or paste it from somewhere else.")
	}
	for _, r := range s {
		if forbidden(r) {
			return Errorf(CodeInvalid, "%s contains %s (%s); remove it.", what, kindOf(r), RuneName(r)).
				WithHint("It is invisible and can make the text read differently from what it says; type the text again rather than pasting it.")
		}
	}
	return nil
}

// isSpace reports whitespace that usher normalizes rather than refuses.
func isSpace(r rune) bool {
	return r == '\t' || r == '\n' || r == '\r' || r == '\v' || r == '\f' || r == '\u2028' || r == '\u2029' || unicode.IsSpace(r)
}

// forbidden reports a character free text may not carry.
func forbidden(r rune) bool {
	if isSpace(r) && r != '\u0085' { // NEL is a C1 control: refused
		return false
	}
	return unicode.Is(unicode.Cc, r) || isBidiControl(r)
}

func isBidiControl(r rune) bool {
	return r >= '\u202a' && r <= '\u202e' || r >= '\u2066' && r <= '\u2069'
}

func kindOf(r rune) string {
	if isBidiControl(r) {
		return "a bidirectional control character"
	}
	return "a control character"
}

var runeNames = map[rune]string{
	0x00: "NULL", 0x07: "BELL", 0x08: "BACKSPACE", 0x1b: "ESCAPE", 0x7f: "DELETE", 0x85: "NEXT LINE",
	0x202a: "LEFT-TO-RIGHT EMBEDDING", 0x202b: "RIGHT-TO-LEFT EMBEDDING", 0x202c: "POP DIRECTIONAL FORMATTING",
	0x202d: "LEFT-TO-RIGHT OVERRIDE", 0x202e: "RIGHT-TO-LEFT OVERRIDE",
	0x2066: "LEFT-TO-RIGHT ISOLATE", 0x2067: "RIGHT-TO-LEFT ISOLATE", 0x2068: "FIRST STRONG ISOLATE", 0x2069: "POP DIRECTIONAL ISOLATE",
}

// RuneName is a character's code point and, for those free text refuses,
// its Unicode name: "U+202E RIGHT-TO-LEFT OVERRIDE".
func RuneName(r rune) string {
	if n, ok := runeNames[r]; ok {
		return fmt.Sprintf("U+%04X %s", r, n)
	}
	return fmt.Sprintf("U+%04X", r)
}
