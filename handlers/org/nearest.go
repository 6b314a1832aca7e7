package org

import "unicode/utf8"

// Nearest is the candidate closest to typed by edit distance, or "" when
// none is close enough to be a typo of it: a swapped pair of letters in a
// short name, up to three edits in a long one. Ties go to the earlier
// candidate. The command parser has its own for verbs; this one serves
// names the domain holds (workspaces), and the domain imports only the
// standard library.
func Nearest(typed string, candidates []string) string {
	best, bestDist := "", typoEdits(typed)+1
	for _, c := range candidates {
		if c == typed {
			continue
		}
		if d := editDistance(typed, c); d < bestDist {
			best, bestDist = c, d
		}
	}
	return best
}

// typoEdits is how many edits still count as a typo.
func typoEdits(typed string) int {
	switch n := utf8.RuneCountInString(typed); {
	case n <= 3:
		return 1
	case n <= 7:
		return 2
	default:
		return 3
	}
}

// editDistance is the Levenshtein distance between a and b, in runes.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}
