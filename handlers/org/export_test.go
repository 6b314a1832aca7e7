package org

// ParseAddress is the full RFC 5322 path of NormalizeEmail, for checking that
// its fast path for bare addresses agrees with it.
func ParseAddress(in string) (string, error) {
	sp, err := parseAddress(in, in)
	return EmailKey(sp), err
}

// ParseSpelling is the spelling ParseAddress's path gives.
func ParseSpelling(in string) (string, error) { return parseAddress(in, in) }
