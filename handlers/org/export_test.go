package org

// ParseAddress is the full RFC 5322 path of NormalizeEmail, for checking that
// its fast path for bare addresses agrees with it.
func ParseAddress(in string) (string, error) { return parseAddress(in, in) }
