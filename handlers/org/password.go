package org

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// The password policy follows NIST SP 800-63B: length over composition rules,
// a block list of passwords attackers try first, no context words (the
// person's email), no periodic changes. It applies to every password a person
// chooses (on the invitation page and when changing one); temporary passwords
// made by usher are random and checked by their construction instead.
const (
	MinPasswordLength = 12
	// MaxPasswordLength bounds the work one sign-in makes argon2id do.
	MaxPasswordLength = 256
	// minDistinct: fewer different characters than this is a pattern, not a secret.
	minDistinct = 5
)

// CheckNewPassword reports, as a user-facing *Error, what is wrong with a
// password someone chose and typed twice; nil when it is acceptable. email,
// when set, is the account's: a password built from it is refused.
func CheckNewPassword(password, confirm, email string) error {
	if password == "" {
		return Errorf(CodeInvalid, "Choose a password.").WithHint("It needs at least %d characters.", MinPasswordLength)
	}
	if !utf8.ValidString(password) || strings.ContainsFunc(password, unicode.IsControl) {
		return Errorf(CodeInvalid, "Your password contains characters that can't be typed reliably.").
			WithHint("Use letters, digits, spaces and punctuation.")
	}
	n := utf8.RuneCountInString(password)
	if n < MinPasswordLength {
		return Errorf(CodeInvalid, "Your password is too short: it has %d characters and needs at least %d.", n, MinPasswordLength).
			WithHint("A few unrelated words make a long password that is easy to remember.")
	}
	if n > MaxPasswordLength {
		return Errorf(CodeInvalid, "Your password is too long: at most %d characters.", MaxPasswordLength)
	}
	if CommonPassword(password) {
		return Errorf(CodeInvalid, "That password is too common: it is among the first ones attackers try.").
			WithHint("Choose something less predictable, such as a few unrelated words.")
	}
	if predictable(password) {
		return Errorf(CodeInvalid, "That password is too easy to guess: it repeats a short pattern.").
			WithHint("Choose something less predictable, such as a few unrelated words.")
	}
	if email != "" && containsEmail(password, email) {
		return Errorf(CodeInvalid, "Your password must not contain your email address or its name part.").
			WithHint("Choose something less predictable, such as a few unrelated words.")
	}
	if password != confirm {
		return Errorf(CodeInvalid, "The two passwords don't match.").WithHint("Type the same password in both fields.")
	}
	return nil
}

// CommonPassword reports whether password is on the block list, ignoring case
// spaces, and the digits and symbols people add around a word ("Password2024!").
func CommonPassword(password string) bool {
	p := strings.ToLower(password)
	if _, ok := commonPasswords[p]; ok {
		return true
	}
	// "correct horse battery staple" is the famous one with spaces.
	p = strings.Join(strings.Fields(p), "")
	if _, ok := commonPasswords[p]; ok {
		return true
	}
	core := strings.TrimFunc(p, func(r rune) bool { return !unicode.IsLetter(r) })
	if core == "" {
		return false
	}
	if _, ok := commonPasswords[core]; ok {
		return true
	}
	// "passwordpassword", "Summer2024Summer2024"
	if unit := repeatUnit(core); unit != core {
		_, ok := commonPasswords[unit]
		return ok
	}
	return false
}

// predictable reports passwords with too few different characters
// ("aaaaaaaaaaaa", "abababababab") or made of one short unit repeated.
func predictable(password string) bool {
	distinct := map[rune]bool{}
	for _, r := range strings.ToLower(password) {
		distinct[r] = true
	}
	if len(distinct) < minDistinct {
		return true
	}
	unit := repeatUnit(password)
	return unit != password && utf8.RuneCountInString(unit) < MinPasswordLength/2
}

// repeatUnit returns the shortest s' such that s is s' repeated (s itself if none).
func repeatUnit(s string) string {
	for n := 1; n <= len(s)/2; n++ {
		if len(s)%n == 0 && strings.Repeat(s[:n], len(s)/n) == s {
			return s[:n]
		}
	}
	return s
}

func containsEmail(password, email string) bool {
	p := strings.ToLower(password)
	e := strings.ToLower(email)
	if strings.Contains(p, e) {
		return true
	}
	local, _, _ := strings.Cut(e, "@")
	return utf8.RuneCountInString(local) >= 4 && strings.Contains(p, local)
}
