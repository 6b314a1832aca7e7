// Package command is the mechanics of usher's chat command language: callers
// register verbs with a Spec and Parse turns what a person typed in Slack,
// Teams or the terminal into a Command, or into an *Error that explains the
// mistake in words fit to show that person.
//
// The package knows nothing about members, roles or workspaces; it only
// knows words, quotes and flags.
//
// "help" is not special here: `--help` and `-h` are unknown flags like any
// other (their error points at the help command). Callers that want a help
// verb register one.
package command

import (
	"fmt"
	"strings"
)

// FlagSpec describes one --flag of a verb.
type FlagSpec struct {
	Name   string // without dashes, e.g. "role"
	Value  string // placeholder when the flag takes a value, e.g. "ROLE"; empty means a boolean flag
	Repeat bool   // may be given more than once (e.g. --workspace)
	Help   string
	// Hidden flags are parsed but never shown or suggested: buttons add them
	// (e.g. the state a confirmation was decided on), people do not type them.
	Hidden bool
}

// Spec describes one verb of the command language.
type Spec struct {
	Verb    string   // one or two words: "invite", "workspace create"
	Aliases []string // other spellings, e.g. "invitations" may alias "pending"
	Usage   string   // the usage line without the verb's leading slash; defaults to Verb
	Summary string   // one line for the help list
	Help    string   // longer text for `help VERB`, may be multi-line
	MinArgs int
	MaxArgs int // -1 means unlimited
	Flags   []FlagSpec
	Hidden  bool // not listed by help (used for button-only verbs like "accept ID")
}

// flag returns the FlagSpec called name, if the verb has one.
func (s Spec) flag(name string) (FlagSpec, bool) {
	for _, f := range s.Flags {
		if f.Name == name {
			return f, true
		}
	}
	return FlagSpec{}, false
}

// Command is one successfully parsed line of user input.
type Command struct {
	Verb  string              // canonical verb (aliases resolved), e.g. "workspace create"
	Args  []string            // positional arguments, in order
	Flags map[string][]string // flag name -> values in order; boolean flags hold "true"
}

// Has reports whether the user gave the flag. A boolean flag written as
// --flag=false counts as not given.
func (c Command) Has(flag string) bool {
	_, ok := c.Flags[flag]
	return ok
}

// Flag returns the last value given for the flag, or "" when it was not given.
func (c Command) Flag(flag string) string {
	v := c.Flags[flag]
	if len(v) == 0 {
		return ""
	}
	return v[len(v)-1]
}

// All returns every value given for the flag, in the order typed.
func (c Command) All(flag string) []string {
	return c.Flags[flag]
}

// Error is what Parse returns for every user mistake. All fields are prose
// meant for the person who typed the command; callers render them.
type Error struct {
	Problem    string // what was wrong, one sentence, e.g. `unknown flag --rol`
	Suggestion string // e.g. `did you mean --role?`, may be empty
	Usage      string // the usage line of the verb involved, "" when the verb is unknown
	Verb       string // the verb involved, "" if unknown
}

// Error renders the whole error on one line, for logs and plain-text shells:
// `unknown flag --rol; did you mean --role? (usage: invite EMAIL...)`.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Problem)
	if e.Suggestion != "" {
		b.WriteString("; ")
		b.WriteString(e.Suggestion)
	}
	if e.Usage != "" {
		fmt.Fprintf(&b, " (usage: %s)", e.Usage)
	}
	return b.String()
}
