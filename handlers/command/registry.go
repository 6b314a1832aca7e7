package command

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/agnivade/levenshtein"
)

// Registry holds the verbs a bot understands. It is read-only after
// NewRegistry, so one Registry may serve many goroutines.
type Registry struct {
	specs []Spec
	// byName maps every verb and alias (lowercase) to its index in specs.
	byName map[string]int
	// subverbs maps the first word of visible two-word names to their
	// second words, so `workspace` alone can list what may follow it.
	subverbs map[string][]string
}

// word is one word of a verb, alias or flag name. Being strict keeps names
// typeable on a phone and stops them from looking like flags or quotes.
var word = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)

// NewRegistry checks the specs and indexes them. Problems in the specs are
// programmer errors, so the error is meant for a developer, not a user.
func NewRegistry(specs ...Spec) (*Registry, error) {
	r := &Registry{
		byName:   make(map[string]int),
		subverbs: make(map[string][]string),
	}
	for i, s := range specs {
		if err := checkSpec(s); err != nil {
			return nil, err
		}
		s = cloneSpec(s)
		if s.Usage == "" {
			s.Usage = s.Verb
		}
		for _, name := range append([]string{s.Verb}, s.Aliases...) {
			if j, dup := r.byName[name]; dup {
				return nil, fmt.Errorf("command: %q is used by both %q and %q", name, specs[j].Verb, s.Verb)
			}
			r.byName[name] = i
			if first, second, ok := strings.Cut(name, " "); ok && !s.Hidden {
				r.subverbs[first] = append(r.subverbs[first], second)
			}
		}
		r.specs = append(r.specs, s)
	}
	return r, nil
}

func checkSpec(s Spec) error {
	if s.Verb == "" {
		return fmt.Errorf("command: a spec has an empty verb (usage %q)", s.Usage)
	}
	for _, name := range append([]string{s.Verb}, s.Aliases...) {
		if err := checkName(name); err != nil {
			return fmt.Errorf("command: verb %q: %w", s.Verb, err)
		}
	}
	if s.MinArgs < 0 {
		return fmt.Errorf("command: verb %q: MinArgs %d is negative", s.Verb, s.MinArgs)
	}
	if s.MaxArgs < -1 || (s.MaxArgs != -1 && s.MaxArgs < s.MinArgs) {
		return fmt.Errorf("command: verb %q: MaxArgs %d must be -1 or at least MinArgs %d", s.Verb, s.MaxArgs, s.MinArgs)
	}
	seen := make(map[string]bool)
	for _, f := range s.Flags {
		if !word.MatchString(f.Name) {
			return fmt.Errorf("command: verb %q: flag name %q must be lowercase letters, digits, '-' or '_', without leading dashes", s.Verb, f.Name)
		}
		if seen[f.Name] {
			return fmt.Errorf("command: verb %q: flag --%s is defined twice", s.Verb, f.Name)
		}
		seen[f.Name] = true
		if f.Repeat && f.Value == "" {
			return fmt.Errorf("command: verb %q: boolean flag --%s cannot be Repeat", s.Verb, f.Name)
		}
	}
	return nil
}

// checkName accepts "word" or "word word" with a single space.
func checkName(name string) error {
	words := strings.Split(name, " ")
	for _, w := range words {
		if !word.MatchString(w) {
			return fmt.Errorf("%q must be one or two lowercase words of letters, digits, '-' or '_', separated by one space", name)
		}
	}
	if len(words) > 2 {
		return fmt.Errorf("%q has more than two words", name)
	}
	return nil
}

// cloneSpec copies the slices so neither the caller's later edits nor
// edits to what Lookup returns can change the registry.
func cloneSpec(s Spec) Spec {
	s.Aliases = slices.Clone(s.Aliases)
	s.Flags = slices.Clone(s.Flags)
	return s
}

// Lookup finds a spec by verb or alias, ignoring case and extra spaces.
func (r *Registry) Lookup(verb string) (Spec, bool) {
	i, ok := r.byName[strings.ToLower(strings.Join(strings.Fields(verb), " "))]
	if !ok {
		return Spec{}, false
	}
	return cloneSpec(r.specs[i]), true
}

// Visible returns the specs help should list, in registration order.
func (r *Registry) Visible() []Spec {
	var out []Spec
	for _, s := range r.specs {
		if !s.Hidden {
			out = append(out, cloneSpec(s))
		}
	}
	return out
}

// Suggest returns the visible verb or alias nearest to word, or "" when
// nothing is close enough to be worth proposing.
func (r *Registry) Suggest(word string) string {
	var names []string
	for _, s := range r.specs {
		if !s.Hidden {
			names = append(names, s.Verb)
			names = append(names, s.Aliases...)
		}
	}
	return nearest(strings.ToLower(strings.Join(strings.Fields(word), " ")), names)
}

// nearest picks the candidate closest to typed by edit distance, or failing
// that the shortest candidate that typed is a prefix of ("inv" -> "invite").
// Ties go to the earlier candidate, so registration order breaks them.
func nearest(typed string, candidates []string) string {
	if typed == "" {
		return ""
	}
	best, bestDist := "", maxDistance(typed)+1
	for _, c := range candidates {
		if d := levenshtein.ComputeDistance(typed, c); d < bestDist {
			best, bestDist = c, d
		}
	}
	if best != "" {
		return best
	}
	// A one-letter prefix matches too much to be a useful guess.
	if utf8.RuneCountInString(typed) < 2 {
		return ""
	}
	for _, c := range candidates {
		if strings.HasPrefix(c, typed) && (best == "" || len(c) < len(best)) {
			best = c
		}
	}
	return best
}

// maxDistance is how many edits still count as a typo: enough for a
// swapped pair of letters ("hlep"), not so many that "role" suggests "help".
func maxDistance(typed string) int {
	switch n := utf8.RuneCountInString(typed); {
	case n <= 3:
		return 1
	case n <= 7:
		return 2
	default:
		return 3
	}
}
