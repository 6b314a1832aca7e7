package command

import (
	"errors"
	"reflect"
	"testing"

	"github.com/kballard/go-shellquote"
)

func FuzzParse(f *testing.F) {
	for _, seed := range []string{
		"",
		" ",
		"invite bob@example.com",
		`invite bob@example.com "carol@example.com" --role member --workspace fraud-models:reader --workspace ml --note "Welcome aboard"`,
		"invite bob --role=admin --role=member",
		"invite bob --role",
		"invite bob --role --workspace ml",
		"invite bob --note=",
		"invite bob --x=",
		"invite bob --=",
		"invite bob --=x",
		"invite bob ---",
		"invite bob ----role",
		"invite bob -- --role x",
		"invite --",
		"invite bob -",
		"invite bob - -- -",
		"invite bob -5",
		"invite bob -h",
		"invite bob -hx",
		"invite bob --help",
		"invite bob --help=x",
		"invite bob -test.v",
		"invite bob -=x",
		"invite bob --dry-run=maybe",
		"invite bob --dry-run=",
		"invite bob --Dry-Run --ROLE=x",
		"remove bob --yes=false",
		"invite bob --note \u201cWelcome\u201d",
		"invite bob --note \u201eHallo\u201c",
		"invite bob --note \u2018hi\u2019",
		"invite bob --note you\u2019re",
		"invite\u00a0bob\u202f--role\u00a0admin",
		"invite bob \u2014role admin",
		"invite bob \u2013",
		"invite bob \u2014",
		`invite bob --note "unterminated`,
		`invite bob --note 'unterminated`,
		`invite bob\`,
		`invite "" '' ""`,
		"invite bob\r\n--role\radmin",
		"workspace",
		"workspace create",
		"workspace create ml --description",
		"Workspace Create \"Fraud Models\"",
		"workspace crate ml",
		"ws create ml",
		"invitations",
		"INVITATIONS now",
		"role bob",
		"role bob admin extra",
		"settings a b c",
		"settings -- -1",
		"help invite",
		"accept 42",
		"/invite bob",
		"/",
		"//",
		"--role admin",
		"-",
		"--",
		"\x00\xff\xfe",
		"invite \xff --role \xfe",
		"invite bob --\u212Aey",
		"inivte bob",
		"\u0130nvite bob", // dotted capital I lowercases to two runes
	} {
		f.Add(seed)
	}
	r := sample(f)

	f.Fuzz(func(t *testing.T, text string) {
		cmd, err := r.Parse(text)
		if err != nil {
			var perr *Error
			if !errors.As(err, &perr) {
				t.Fatalf("Parse(%q) returned %T %v, want *Error", text, err, err)
			}
			if perr.Problem == "" {
				t.Fatalf("Parse(%q) returned an *Error with no Problem: %#v", text, perr)
			}
			if perr.Verb != "" && perr.Usage == "" {
				t.Fatalf("Parse(%q) names verb %q but gives no usage", text, perr.Verb)
			}
			_ = perr.Error()
			return
		}

		spec, ok := r.Lookup(cmd.Verb)
		if !ok || spec.Verb != cmd.Verb {
			t.Fatalf("Parse(%q) gave verb %q, which is not a registered verb", text, cmd.Verb)
		}
		if n := len(cmd.Args); n < spec.MinArgs || (spec.MaxArgs != -1 && n > spec.MaxArgs) {
			t.Fatalf("Parse(%q) gave %d args, want %d..%d", text, n, spec.MinArgs, spec.MaxArgs)
		}
		for name, values := range cmd.Flags {
			fs, ok := spec.flag(name)
			if !ok {
				t.Fatalf("Parse(%q) gave flag %q, which %q does not have", text, name, spec.Verb)
			}
			if !fs.Repeat && len(values) != 1 {
				t.Fatalf("Parse(%q) gave %d values for non-repeat flag --%s", text, len(values), name)
			}
			if len(values) == 0 {
				t.Fatalf("Parse(%q) gave flag --%s with no values", text, name)
			}
			if fs.Value == "" && values[0] != "true" {
				t.Fatalf("Parse(%q) gave boolean --%s = %q", text, name, values[0])
			}
		}

		// Writing the command back out in the plainest form must parse to
		// the same thing, or flags and arguments were split inconsistently.
		words := []string{}
		for _, fs := range spec.Flags {
			for _, v := range cmd.Flags[fs.Name] {
				if fs.Value == "" {
					words = append(words, "--"+fs.Name)
				} else {
					words = append(words, "--"+fs.Name+"="+v)
				}
			}
		}
		words = append(words, "--")
		words = append(words, cmd.Args...)
		again := cmd.Verb + " " + shellquote.Join(words...)
		cmd2, err := r.Parse(again)
		if err != nil {
			t.Fatalf("Parse(%q) = %#v, but its plain form %q fails: %v", text, cmd, again, err)
		}
		if !reflect.DeepEqual(cmd, cmd2) {
			t.Fatalf("Parse(%q) = %#v, but its plain form %q gives %#v", text, cmd, again, cmd2)
		}
	})
}
