package command

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/kballard/go-shellquote"
	"github.com/spf13/pflag"
)

// Parse turns one line of user input into a Command. Every mistake comes
// back as an *Error; Parse never panics, whatever the input.
func (r *Registry) Parse(text string) (Command, error) {
	tokens, perr := tokenize(text)
	if perr != nil {
		return Command{}, perr
	}
	if len(tokens) == 0 {
		return Command{}, &Error{Problem: "no command given", Suggestion: `try "help"`}
	}
	spec, rest, perr := r.resolve(tokens)
	if perr != nil {
		return Command{}, perr
	}
	cmd, perr := parseFlags(spec, rest)
	if perr != nil {
		return Command{}, perr
	}
	if perr := checkArgCount(spec, len(cmd.Args)); perr != nil {
		return Command{}, perr
	}
	return cmd, nil
}

// typography maps what chat clients' autocorrect and rich text editors put
// in place of the plain characters a shell-like syntax needs.
var typography = strings.NewReplacer(
	"\u201c", `"`, "\u201d", `"`, "\u201e", `"`, // “ ” „
	"\u2018", "'", "\u2019", "'", // ‘ ’
	"\u00a0", " ", "\u202f", " ", // no-break space, narrow no-break space
	"\r\n", "\n", "\r", "\n", // Teams and Windows terminals
)

func tokenize(text string) ([]string, *Error) {
	// Chat clients send valid UTF-8, but a terminal may not. Repair it
	// first: stray bytes on either side of a quote would otherwise join
	// into characters nobody typed once the quote is removed.
	text = strings.ToValidUTF8(text, "\uFFFD")
	tokens, err := shellquote.Split(typography.Replace(text))
	switch {
	case errors.Is(err, shellquote.UnterminatedSingleQuoteError):
		return nil, &Error{
			Problem: `unterminated quote: close it with a matching " or '`,
			// Smart apostrophes become ' above, so "you’re" opens a quote.
			Suggestion: `an apostrophe counts as a quote, so put text like "you're" inside double quotes`,
		}
	case errors.Is(err, shellquote.UnterminatedDoubleQuoteError):
		return nil, &Error{Problem: `unterminated quote: close it with a matching " or '`}
	case errors.Is(err, shellquote.UnterminatedEscapeError):
		return nil, &Error{
			Problem:    "the text ends with a backslash, which escapes nothing",
			Suggestion: `remove it, or write \\ for a literal backslash`,
		}
	case err != nil:
		return nil, &Error{Problem: "could not split the text into words"}
	}
	return tokens, nil
}

// resolve finds the verb at the start of tokens and returns its spec and
// the tokens after it. Two-word verbs win over one-word ones so that
// "workspace create" is not read as "workspace" with an argument.
func (r *Registry) resolve(tokens []string) (Spec, []string, *Error) {
	// People paste usage lines from help, which carry a leading slash.
	first := strings.ToLower(tokens[0])
	if len(first) > 1 {
		first = strings.TrimPrefix(first, "/")
	}
	if len(tokens) >= 2 {
		if i, ok := r.byName[first+" "+strings.ToLower(tokens[1])]; ok {
			return r.specs[i], tokens[2:], nil
		}
	}
	if i, ok := r.byName[first]; ok {
		return r.specs[i], tokens[1:], nil
	}

	if subs := r.subverbs[first]; len(subs) > 0 {
		e := &Error{}
		if len(tokens) == 1 {
			e.Problem = fmt.Sprintf("%q needs a subcommand: %s", first, strings.Join(subs, ", "))
		} else {
			e.Problem = fmt.Sprintf("%q has no subcommand %q; it has: %s", first, clip(tokens[1]), strings.Join(subs, ", "))
			if s := nearest(strings.ToLower(tokens[1]), subs); s != "" {
				e.Suggestion = fmt.Sprintf("did you mean %q?", first+" "+s)
			}
		}
		return Spec{}, nil, e
	}

	e := &Error{Problem: fmt.Sprintf("unknown command %q", clip(tokens[0])), Suggestion: `try "help" to see what I can do`}
	if strings.HasPrefix(first, "-") {
		// Someone started with a flag; "--role" is not a typo of "role".
		return Spec{}, nil, e
	}
	guess := ""
	if len(tokens) >= 2 {
		// Only a two-word guess is useful here: "worksapce create".
		if g := r.Suggest(first + " " + tokens[1]); strings.Contains(g, " ") {
			guess = g
		}
	}
	if guess == "" {
		guess = r.Suggest(first)
	}
	if guess != "" {
		e.Suggestion = fmt.Sprintf("did you mean %q?", guess)
	}
	return Spec{}, nil, e
}

// parseFlags separates flags from positional arguments with pflag.
func parseFlags(spec Spec, args []string) (Command, *Error) {
	args, perr := screenFlags(spec, args)
	if perr != nil {
		return Command{}, perr
	}

	fs := pflag.NewFlagSet(spec.Verb, pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	fs.SetInterspersed(true)
	// Phones capitalise words on their own; --Role should still work.
	fs.SetNormalizeFunc(func(_ *pflag.FlagSet, name string) pflag.NormalizedName {
		return pflag.NormalizedName(strings.ToLower(name))
	})
	// Keep pflag's own pointers: reading back with GetStringArray would
	// round-trip the values through CSV, which loses "" and rewrites \r.
	bools := make(map[string]*bool)
	strs := make(map[string]*[]string)
	for _, f := range spec.Flags {
		if f.Value == "" {
			bools[f.Name] = fs.Bool(f.Name, false, f.Help)
		} else {
			v := &repeated{}
			fs.Var(v, f.Name, f.Help)
			strs[f.Name] = &v.values
		}
	}

	if err := fs.Parse(args); err != nil {
		var invalid *pflag.InvalidValueError
		if errors.As(err, &invalid) {
			// Only boolean flags can reject a value.
			name := invalid.GetFlag().Name
			return Command{}, specError(spec,
				fmt.Sprintf("--%s is an on/off switch and does not take the value %q", name, clip(invalid.GetValue())),
				fmt.Sprintf("write just --%s", name))
		}
		// screenFlags should have caught everything else; never show
		// pflag's wording, it talks about shorthands users never see.
		return Command{}, specError(spec, "could not make sense of the flags", validFlags(spec))
	}

	cmd := Command{Verb: spec.Verb, Args: fs.Args(), Flags: make(map[string][]string)}
	if cmd.Args == nil {
		cmd.Args = []string{}
	}
	for _, f := range spec.Flags {
		if !fs.Changed(f.Name) {
			continue
		}
		if f.Value == "" {
			// --flag=false means the user wants it off; Has must agree.
			if *bools[f.Name] {
				cmd.Flags[f.Name] = []string{"true"}
			}
			continue
		}
		values := *strs[f.Name]
		if len(values) > 1 && !f.Repeat {
			times := "twice"
			if len(values) > 2 {
				times = fmt.Sprintf("%d times", len(values))
			}
			return Command{}, specError(spec, fmt.Sprintf("--%s given %s", f.Name, times),
				fmt.Sprintf("--%s takes one %s", f.Name, f.Value))
		}
		cmd.Flags[f.Name] = values
	}
	return cmd, nil
}

// screenFlags walks args the way pflag will and rejects, in chat terms, the
// inputs pflag would get wrong for us: any single-dash word (pflag reads it
// as a cluster of shorthands, turns -h into a help request and silently
// drops -test.*), unknown --flags (--help included), and value flags that
// are missing their value. It also repairs --flags that autocorrect turned
// into an em or en dash. The returned args are safe to hand to pflag.
func screenFlags(spec Spec, args []string) ([]string, *Error) {
	out := make([]string, len(args))
	copy(out, args)
	for i := 0; i < len(out); i++ {
		a := undash(out[i])
		out[i] = a
		switch {
		case a == "--":
			return out, nil
		case strings.HasPrefix(a, "--"):
			name, _, hasValue := strings.Cut(a[2:], "=")
			f, ok := spec.flag(strings.ToLower(name))
			if !ok {
				shown := "--" + name
				if name == "" {
					shown = a
				}
				return nil, unknownFlag(spec, shown, strings.TrimLeft(name, "-"))
			}
			if f.Value == "" || hasValue {
				continue
			}
			if i+1 == len(out) || isFlagOf(spec, undash(out[i+1])) {
				return nil, specError(spec, fmt.Sprintf("--%s needs a value (%s)", f.Name, f.Value),
					fmt.Sprintf("write --%s %s", f.Name, f.Value))
			}
			i++ // the value, which may itself start with a dash
		case len(a) > 1 && a[0] == '-':
			if looksNumeric(a[1:]) {
				return nil, specError(spec, fmt.Sprintf("unknown flag %s", clip(a)),
					fmt.Sprintf("to pass %q as an argument, put it after a bare --", clip(a)))
			}
			return nil, unknownFlag(spec, a, a[1:])
		}
	}
	return out, nil
}

// undash turns "—role" or "–role", which macOS and iOS make of "--role",
// back into "--role". Only a dash directly followed by a letter is
// touched, so a lone dash or "— like this" stays as typed.
func undash(a string) string {
	for _, dash := range []string{"\u2014", "\u2013"} {
		if rest, ok := strings.CutPrefix(a, dash); ok && rest != "" && isLetter(rest[0]) {
			return "--" + rest
		}
	}
	return a
}

func isLetter(b byte) bool { return 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' }

// isFlagOf reports whether a is a --flag of spec, or the -- separator:
// "--role --workspace ml" is a forgotten value, not a role named
// "--workspace".
func isFlagOf(spec Spec, a string) bool {
	if a == "--" {
		return true
	}
	rest, ok := strings.CutPrefix(a, "--")
	if !ok {
		return false
	}
	name, _, _ := strings.Cut(rest, "=")
	_, known := spec.flag(strings.ToLower(name))
	return known
}

func looksNumeric(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if (c < '0' || c > '9') && c != '.' && c != ',' {
			return false
		}
	}
	return true
}

func unknownFlag(spec Spec, shown, name string) *Error {
	e := specError(spec, fmt.Sprintf("unknown flag %s", clip(shown)), "")
	switch low := strings.ToLower(name); {
	case low == "help" || low == "h":
		e.Suggestion = fmt.Sprintf("try %q", "help "+spec.Verb)
	default:
		var names []string
		for _, f := range spec.Flags {
			if !f.Hidden {
				names = append(names, f.Name)
			}
		}
		if guess := nearest(low, names); guess != "" {
			e.Suggestion = fmt.Sprintf("did you mean --%s?", guess)
		} else {
			e.Suggestion = validFlags(spec)
		}
	}
	return e
}

func validFlags(spec Spec) string {
	var names []string
	for _, f := range spec.Flags {
		if !f.Hidden {
			names = append(names, "--"+f.Name)
		}
	}
	if len(names) == 0 {
		return fmt.Sprintf("%q takes no flags", spec.Verb)
	}
	return "valid flags: " + strings.Join(names, ", ")
}

func checkArgCount(spec Spec, n int) *Error {
	lo, hi := spec.MinArgs, spec.MaxArgs
	if n >= lo && (hi == -1 || n <= hi) {
		return nil
	}
	if n < lo {
		if names := requiredNames(spec); names != "" {
			return specError(spec, fmt.Sprintf("%q needs %s", spec.Verb, names), "")
		}
		if lo == hi {
			return specError(spec, fmt.Sprintf("%q takes %s, got %d", spec.Verb, arguments(lo), n), "")
		}
		return specError(spec, fmt.Sprintf("%q needs at least %s", spec.Verb, arguments(lo)), "")
	}
	// Too many is nearly always an unquoted value with spaces in it.
	hint := `put values that contain spaces in double quotes`
	if hi == 0 {
		hint = ""
	}
	if lo == hi {
		return specError(spec, fmt.Sprintf("%q takes %s, got %d", spec.Verb, arguments(hi), n), hint)
	}
	return specError(spec, fmt.Sprintf("%q takes at most %s, got %d", spec.Verb, arguments(hi), n), hint)
}

func arguments(n int) string {
	switch n {
	case 0:
		return "no arguments"
	case 1:
		return "1 argument"
	}
	return fmt.Sprintf("%d arguments", n)
}

// requiredNames reads the required placeholders from the usage line, so
// "role EMAIL ROLE" gives "EMAIL and ROLE" and "invite EMAIL..." gives
// "at least one EMAIL". It returns "" when the usage line doesn't name
// exactly MinArgs of them, and the caller falls back to counting.
func requiredNames(spec Spec) string {
	fields := strings.Fields(spec.Usage)
	verb := strings.Fields(spec.Verb)
	if len(fields) < len(verb) || !strings.EqualFold(strings.Join(fields[:len(verb)], " "), spec.Verb) {
		return ""
	}
	var names []string
	for _, f := range fields[len(verb):] {
		name, many := strings.CutSuffix(f, "...")
		if !isPlaceholder(name) {
			break
		}
		if many {
			if spec.MaxArgs != -1 {
				return ""
			}
			name = "at least one " + name
		}
		names = append(names, name)
	}
	if len(names) == 0 || len(names) != spec.MinArgs {
		return ""
	}
	if len(names) == 1 {
		return names[0]
	}
	return strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1]
}

func isPlaceholder(s string) bool {
	if s == "" || s[0] < 'A' || s[0] > 'Z' {
		return false
	}
	for _, c := range s {
		if (c < 'A' || c > 'Z') && (c < '0' || c > '9') && c != '_' {
			return false
		}
	}
	return true
}

func specError(spec Spec, problem, suggestion string) *Error {
	return &Error{Problem: problem, Suggestion: suggestion, Usage: spec.Usage, Verb: spec.Verb}
}

// clip keeps echoed user text short enough to read back in a chat reply.
func clip(s string) string {
	const max = 40
	if utf8.RuneCountInString(s) <= max {
		return s
	}
	return string([]rune(s)[:max-1]) + "…"
}

// repeated is a flag that may be given several times, keeping every value as
// typed. pflag's own StringArray does the same, but defining one allocates a
// 4 KiB CSV writer, and a command defines its flags on every parse.
type repeated struct{ values []string }

func (r *repeated) Set(v string) error { r.values = append(r.values, v); return nil }
func (r *repeated) Type() string       { return "stringArray" }
func (r *repeated) String() string     { return "[" + strings.Join(r.values, ",") + "]" }
