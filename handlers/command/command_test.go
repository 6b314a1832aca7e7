package command

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

// sampleSpecs is a registry shaped like usher's real one.
func sampleSpecs() []Spec {
	return []Spec{
		{
			Verb:    "invite",
			Usage:   "invite EMAIL... [--role admin|member|viewer] [--workspace NAME[:ROLE]]... [--note TEXT] [--dry-run]",
			Summary: "invite people to the organization",
			MinArgs: 1, MaxArgs: -1,
			Flags: []FlagSpec{
				{Name: "role", Value: "ROLE", Help: "organization role"},
				{Name: "workspace", Value: "NAME[:ROLE]", Repeat: true, Help: "add to a workspace"},
				{Name: "note", Value: "TEXT", Help: "a line for the invitation email"},
				{Name: "dry-run", Help: "show what would happen"},
			},
		},
		{Verb: "pending", Aliases: []string{"invitations"}, Usage: "pending", Summary: "list open invitations", MaxArgs: 0},
		{Verb: "role", Usage: "role EMAIL ROLE", Summary: "change someone's role", MinArgs: 2, MaxArgs: 2},
		{
			Verb: "workspace create", Aliases: []string{"ws create"}, Usage: "workspace create NAME [--description TEXT]",
			Summary: "create a workspace", MinArgs: 1, MaxArgs: 1,
			Flags: []FlagSpec{{Name: "description", Value: "TEXT"}},
		},
		{Verb: "workspaces", Usage: "workspaces", Summary: "list workspaces", MaxArgs: 0},
		{Verb: "remove", Usage: "remove EMAIL [--yes]", MinArgs: 1, MaxArgs: 1, Flags: []FlagSpec{{Name: "yes"}}},
		{Verb: "help", Usage: "help [COMMAND]", Summary: "show help", MaxArgs: 1},
		{Verb: "accept", Usage: "accept ID", MinArgs: 1, MaxArgs: 1, Hidden: true},
		{Verb: "settings", Usage: "settings [KEY VALUE]", Summary: "show or change settings", MinArgs: 0, MaxArgs: 2},
	}
}

func sample(t testing.TB) *Registry {
	t.Helper()
	r, err := NewRegistry(sampleSpecs()...)
	if err != nil {
		t.Fatalf("NewRegistry: %v", err)
	}
	return r
}

func flags(kv ...string) map[string][]string {
	m := make(map[string][]string)
	for i := 0; i < len(kv); i += 2 {
		m[kv[i]] = append(m[kv[i]], kv[i+1])
	}
	return m
}

func TestParseOK(t *testing.T) {
	r := sample(t)
	tests := []struct {
		name string
		in   string
		want Command
	}{
		{"plain", "invite bob@example.com", Command{"invite", []string{"bob@example.com"}, flags()}},
		{
			"the example from the docs",
			`invite bob@example.com "carol@example.com" --role member --workspace fraud-models:reader --workspace ml --note "Welcome aboard"`,
			Command{"invite", []string{"bob@example.com", "carol@example.com"},
				flags("role", "member", "workspace", "fraud-models:reader", "workspace", "ml", "note", "Welcome aboard")},
		},
		{"equals form", "invite bob --role=admin --note=hi", Command{"invite", []string{"bob"}, flags("role", "admin", "note", "hi")}},
		{"equals form keeps later equals", "invite bob --note=a=b", Command{"invite", []string{"bob"}, flags("note", "a=b")}},
		{"empty value with equals", "invite bob --note=", Command{"invite", []string{"bob"}, flags("note", "")}},
		{"values survive untouched", `invite bob --workspace "" --workspace 'a, "b"' --workspace "x\ny"`, Command{"invite", []string{"bob"}, flags("workspace", "", "workspace", `a, "b"`, "workspace", `x\ny`)}},
		{"flags before positionals", "invite --role viewer bob carol", Command{"invite", []string{"bob", "carol"}, flags("role", "viewer")}},
		{"flags between positionals", "invite bob --role viewer carol", Command{"invite", []string{"bob", "carol"}, flags("role", "viewer")}},
		{"repeat keeps order", "invite bob --workspace b --workspace a --workspace=c", Command{"invite", []string{"bob"}, flags("workspace", "b", "workspace", "a", "workspace", "c")}},
		{"boolean", "invite bob --dry-run", Command{"invite", []string{"bob"}, flags("dry-run", "true")}},
		{"boolean does not eat the next word", "invite --dry-run bob", Command{"invite", []string{"bob"}, flags("dry-run", "true")}},
		{"boolean explicit true", "remove bob --yes=true", Command{"remove", []string{"bob"}, flags("yes", "true")}},
		{"boolean explicit false is not set", "remove bob --yes=false", Command{"remove", []string{"bob"}, flags()}},
		{"boolean twice is harmless", "remove bob --yes --yes", Command{"remove", []string{"bob"}, flags("yes", "true")}},
		{"single quotes", "invite bob --note 'hello there'", Command{"invite", []string{"bob"}, flags("note", "hello there")}},
		{"backslash escape", `invite bob --note hello\ there`, Command{"invite", []string{"bob"}, flags("note", "hello there")}},
		{"smart double quotes", "invite bob --note \u201cWelcome aboard\u201d", Command{"invite", []string{"bob"}, flags("note", "Welcome aboard")}},
		{"low-9 quote", "invite bob --note \u201eWillkommen\u201c", Command{"invite", []string{"bob"}, flags("note", "Willkommen")}},
		{"smart single quotes", "invite bob --note \u2018hi there\u2019", Command{"invite", []string{"bob"}, flags("note", "hi there")}},
		{"smart apostrophe inside double quotes", "invite bob --note \u201cyou\u2019re in\u201d", Command{"invite", []string{"bob"}, flags("note", "you're in")}},
		{"non-breaking spaces", "invite\u00a0bob\u00a0--role\u00a0admin", Command{"invite", []string{"bob"}, flags("role", "admin")}},
		{"carriage returns", "invite bob\r\n--role admin\r", Command{"invite", []string{"bob"}, flags("role", "admin")}},
		{"em dash from autocorrect", "invite bob \u2014role admin", Command{"invite", []string{"bob"}, flags("role", "admin")}},
		{"en dash from autocorrect", "invite bob \u2013dry-run", Command{"invite", []string{"bob"}, flags("dry-run", "true")}},
		{"flag value may start with a dash", "invite bob --note -x", Command{"invite", []string{"bob"}, flags("note", "-x")}},
		{"flag value may start with double dash", "invite bob --note --unknown", Command{"invite", []string{"bob"}, flags("note", "--unknown")}},
		{"flag names ignore case", "invite bob --Role admin", Command{"invite", []string{"bob"}, flags("role", "admin")}},
		{"verb ignores case", "INVITE bob", Command{"invite", []string{"bob"}, flags()}},
		{"leading slash", "/invite bob", Command{"invite", []string{"bob"}, flags()}},
		{"alias", "invitations", Command{"pending", []string{}, flags()}},
		{"alias ignores case", "Invitations", Command{"pending", []string{}, flags()}},
		{"two-word verb", "workspace create ml", Command{"workspace create", []string{"ml"}, flags()}},
		{"two-word verb ignores case", "Workspace CREATE ml", Command{"workspace create", []string{"ml"}, flags()}},
		{"two-word alias", "ws create ml --description 'models'", Command{"workspace create", []string{"ml"}, flags("description", "models")}},
		{"one-word verb sharing a prefix", "workspaces", Command{"workspaces", []string{}, flags()}},
		{"double dash ends flags", "invite -- --role bob", Command{"invite", []string{"--role", "bob"}, flags()}},
		{"double dash after flags", "invite --role admin -- -bob -", Command{"invite", []string{"-bob", "-"}, flags("role", "admin")}},
		{"negative number after double dash", "settings limit -- -5", Command{"settings", []string{"limit", "-5"}, flags()}},
		{"lone dash is positional", "settings key -", Command{"settings", []string{"key", "-"}, flags()}},
		{"empty quoted positional", `settings key ""`, Command{"settings", []string{"key", ""}, flags()}},
		{"optional args absent", "settings", Command{"settings", []string{}, flags()}},
		{"hidden verbs still parse", "accept 42", Command{"accept", []string{"42"}, flags()}},
		{"invalid UTF-8 is repaired before quotes are removed", "invite 0\"00\xe2\"\x80\x9c00", Command{"invite", []string{"000\ufffd\ufffd00"}, flags()}},
		{"extra whitespace", "  \t invite   bob  \n", Command{"invite", []string{"bob"}, flags()}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := r.Parse(tt.in)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.in, err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Parse(%q)\n got %#v\nwant %#v", tt.in, got, tt.want)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	r := sample(t)
	const inviteUsage = "invite EMAIL... [--role admin|member|viewer] [--workspace NAME[:ROLE]]... [--note TEXT] [--dry-run]"
	tests := []struct {
		name string
		in   string
		want Error
	}{
		{"empty", "", Error{Problem: "no command given", Suggestion: `try "help"`}},
		{"whitespace", " \t\n\u00a0 ", Error{Problem: "no command given", Suggestion: `try "help"`}},
		{"unterminated double quote", `invite bob --note "hi`, Error{Problem: `unterminated quote: close it with a matching " or '`}},
		{"unterminated smart quote", "invite bob --note \u201chi", Error{Problem: `unterminated quote: close it with a matching " or '`}},
		{"unterminated single quote", `invite bob --note you're`, Error{
			Problem:    `unterminated quote: close it with a matching " or '`,
			Suggestion: `an apostrophe counts as a quote, so put text like "you're" inside double quotes`,
		}},
		{"trailing backslash", `invite bob\`, Error{
			Problem:    "the text ends with a backslash, which escapes nothing",
			Suggestion: `remove it, or write \\ for a literal backslash`,
		}},
		{"unknown verb with suggestion", "inivte bob", Error{Problem: `unknown command "inivte"`, Suggestion: `did you mean "invite"?`}},
		{"unknown verb by prefix", "inv bob", Error{Problem: `unknown command "inv"`, Suggestion: `did you mean "invite"?`}},
		{"unknown verb suggests alias", "invitatons", Error{Problem: `unknown command "invitatons"`, Suggestion: `did you mean "invitations"?`}},
		{"unknown verb nothing close", "frobnicate", Error{Problem: `unknown command "frobnicate"`, Suggestion: `try "help" to see what I can do`}},
		{"unknown two-word verb", "worksapce create ml", Error{Problem: `unknown command "worksapce"`, Suggestion: `did you mean "workspace create"?`}},
		{"hidden verbs are not suggested", "acept 1", Error{Problem: `unknown command "acept"`, Suggestion: `try "help" to see what I can do`}},
		{"flag as verb", "--role admin", Error{Problem: `unknown command "--role"`, Suggestion: `try "help" to see what I can do`}},
		{"first word of two-word verb alone", "workspace", Error{Problem: `"workspace" needs a subcommand: create`}},
		{"unknown subcommand", "workspace delete ml", Error{Problem: `"workspace" has no subcommand "delete"; it has: create`}},
		{"misspelt subcommand", "workspace crate ml", Error{Problem: `"workspace" has no subcommand "crate"; it has: create`, Suggestion: `did you mean "workspace create"?`}},
		{"unknown flag with suggestion", "invite bob --rol admin", Error{Problem: "unknown flag --rol", Suggestion: "did you mean --role?", Usage: inviteUsage, Verb: "invite"}},
		{"unknown flag with equals", "invite bob --rol=admin", Error{Problem: "unknown flag --rol", Suggestion: "did you mean --role?", Usage: inviteUsage, Verb: "invite"}},
		{"unknown flag by prefix", "invite bob --work ml", Error{Problem: "unknown flag --work", Suggestion: "did you mean --workspace?", Usage: inviteUsage, Verb: "invite"}},
		{"unknown flag lists valid ones", "invite bob --frobnicate", Error{Problem: "unknown flag --frobnicate", Suggestion: "valid flags: --role, --workspace, --note, --dry-run", Usage: inviteUsage, Verb: "invite"}},
		{"unknown flag on verb without flags", "role bob admin --force", Error{Problem: "unknown flag --force", Suggestion: `"role" takes no flags`, Usage: "role EMAIL ROLE", Verb: "role"}},
		{"single dash long name", "invite bob -role admin", Error{Problem: "unknown flag -role", Suggestion: "did you mean --role?", Usage: inviteUsage, Verb: "invite"}},
		{"shorthand", "invite bob -x", Error{Problem: "unknown flag -x", Suggestion: "valid flags: --role, --workspace, --note, --dry-run", Usage: inviteUsage, Verb: "invite"}},
		{"go test style flag is not dropped", "invite bob -test.v", Error{Problem: "unknown flag -test.v", Suggestion: "valid flags: --role, --workspace, --note, --dry-run", Usage: inviteUsage, Verb: "invite"}},
		{"triple dash", "invite bob ---role admin", Error{Problem: "unknown flag ---role", Suggestion: "did you mean --role?", Usage: inviteUsage, Verb: "invite"}},
		{"nameless flag", "invite bob --=x", Error{Problem: "unknown flag --=x", Suggestion: "valid flags: --role, --workspace, --note, --dry-run", Usage: inviteUsage, Verb: "invite"}},
		{"--help", "invite --help", Error{Problem: "unknown flag --help", Suggestion: `try "help invite"`, Usage: inviteUsage, Verb: "invite"}},
		{"-h", "workspace create -h", Error{Problem: "unknown flag -h", Suggestion: `try "help workspace create"`, Usage: "workspace create NAME [--description TEXT]", Verb: "workspace create"}},
		{"negative number", "settings limit -5", Error{Problem: "unknown flag -5", Suggestion: `to pass "-5" as an argument, put it after a bare --`, Usage: "settings [KEY VALUE]", Verb: "settings"}},
		{"missing value at end", "invite bob --role", Error{Problem: "--role needs a value (ROLE)", Suggestion: "write --role ROLE", Usage: inviteUsage, Verb: "invite"}},
		{"missing value before another flag", "invite bob --role --workspace ml", Error{Problem: "--role needs a value (ROLE)", Suggestion: "write --role ROLE", Usage: inviteUsage, Verb: "invite"}},
		{"missing value before double dash", "invite --note -- bob", Error{Problem: "--note needs a value (TEXT)", Suggestion: "write --note TEXT", Usage: inviteUsage, Verb: "invite"}},
		{"non-repeat flag twice", "invite bob --role admin --role member", Error{Problem: "--role given twice", Suggestion: "--role takes one ROLE", Usage: inviteUsage, Verb: "invite"}},
		{"non-repeat flag thrice", "invite bob --role a --role=b --role c", Error{Problem: "--role given 3 times", Suggestion: "--role takes one ROLE", Usage: inviteUsage, Verb: "invite"}},
		{"boolean with a value", "remove bob --yes=please", Error{Problem: `--yes is an on/off switch and does not take the value "please"`, Suggestion: "write just --yes", Usage: "remove EMAIL [--yes]", Verb: "remove"}},
		{"too few, open-ended", "invite --role admin", Error{Problem: `"invite" needs at least one EMAIL`, Usage: inviteUsage, Verb: "invite"}},
		{"too few, fixed", "role bob", Error{Problem: `"role" needs EMAIL and ROLE`, Usage: "role EMAIL ROLE", Verb: "role"}},
		{"too many, fixed", "role bob admin extra", Error{Problem: `"role" takes 2 arguments, got 3`, Suggestion: "put values that contain spaces in double quotes", Usage: "role EMAIL ROLE", Verb: "role"}},
		{"too many, unquoted name", "workspace create Fraud Models", Error{Problem: `"workspace create" takes 1 argument, got 2`, Suggestion: "put values that contain spaces in double quotes", Usage: "workspace create NAME [--description TEXT]", Verb: "workspace create"}},
		{"too many, none allowed", "workspaces all", Error{Problem: `"workspaces" takes no arguments, got 1`, Usage: "workspaces", Verb: "workspaces"}},
		{"too many, via alias", "invitations all", Error{Problem: `"pending" takes no arguments, got 1`, Usage: "pending", Verb: "pending"}},
		{"too many, range", "settings a b c", Error{Problem: `"settings" takes at most 2 arguments, got 3`, Suggestion: "put values that contain spaces in double quotes", Usage: "settings [KEY VALUE]", Verb: "settings"}},
		{"long junk is clipped", "x" + strings.Repeat("y", 100), Error{Problem: `unknown command "x` + strings.Repeat("y", 38) + `…"`, Suggestion: `try "help" to see what I can do`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd, err := r.Parse(tt.in)
			var perr *Error
			if !errors.As(err, &perr) {
				t.Fatalf("Parse(%q) = %#v, %v; want *Error", tt.in, cmd, err)
			}
			if *perr != tt.want {
				t.Errorf("Parse(%q)\n got %#v\nwant %#v", tt.in, *perr, tt.want)
			}
		})
	}
}

// Counting is the fallback when the usage line doesn't name the arguments.
func TestArgCountWithoutPlaceholders(t *testing.T) {
	r, err := NewRegistry(
		Spec{Verb: "pair", MinArgs: 2, MaxArgs: 2},
		Spec{Verb: "some", MinArgs: 2, MaxArgs: -1},
		Spec{Verb: "few", Usage: "few A B [C]", MinArgs: 1, MaxArgs: 3},
	)
	if err != nil {
		t.Fatal(err)
	}
	for in, want := range map[string]string{
		"pair x":      `"pair" takes 2 arguments, got 1`,
		"some x":      `"some" needs at least 2 arguments`,
		"few":         `"few" needs at least 1 argument`,
		"few a b c d": `"few" takes at most 3 arguments, got 4`,
	} {
		_, err := r.Parse(in)
		var perr *Error
		if !errors.As(err, &perr) || perr.Problem != want {
			t.Errorf("Parse(%q) = %v, want problem %q", in, err, want)
		}
		if perr != nil && perr.Usage == "" {
			t.Errorf("Parse(%q): Usage is empty; it should default to the verb", in)
		}
	}
}

func TestErrorString(t *testing.T) {
	tests := []struct {
		err  Error
		want string
	}{
		{Error{Problem: "no command given", Suggestion: `try "help"`}, `no command given; try "help"`},
		{Error{Problem: "unknown flag --rol", Suggestion: "did you mean --role?", Usage: "invite EMAIL...", Verb: "invite"},
			"unknown flag --rol; did you mean --role? (usage: invite EMAIL...)"},
		{Error{Problem: `"role" needs EMAIL and ROLE`, Usage: "role EMAIL ROLE", Verb: "role"}, `"role" needs EMAIL and ROLE (usage: role EMAIL ROLE)`},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("Error() = %q, want %q", got, tt.want)
		}
	}
}

func TestCommandAccessors(t *testing.T) {
	c := Command{Verb: "invite", Flags: flags("workspace", "a", "workspace", "b", "dry-run", "true")}
	if !c.Has("workspace") || !c.Has("dry-run") || c.Has("role") {
		t.Error("Has is wrong")
	}
	if got := c.Flag("workspace"); got != "b" {
		t.Errorf(`Flag("workspace") = %q, want last value "b"`, got)
	}
	if got := c.Flag("role"); got != "" {
		t.Errorf(`Flag("role") = %q, want ""`, got)
	}
	if got := c.All("workspace"); !reflect.DeepEqual(got, []string{"a", "b"}) {
		t.Errorf(`All("workspace") = %q`, got)
	}
	if got := c.All("role"); len(got) != 0 {
		t.Errorf(`All("role") = %q, want empty`, got)
	}
	var zero Command
	if zero.Has("x") || zero.Flag("x") != "" || zero.All("x") != nil {
		t.Error("zero Command should have no flags")
	}
}

func TestNewRegistryErrors(t *testing.T) {
	tests := []struct {
		name  string
		specs []Spec
		want  string // substring of the error
	}{
		{"empty verb", []Spec{{Verb: ""}}, "empty verb"},
		{"three words", []Spec{{Verb: "a b c"}}, "more than two words"},
		{"double space", []Spec{{Verb: "a  b"}}, "one or two lowercase words"},
		{"uppercase", []Spec{{Verb: "Invite"}}, "one or two lowercase words"},
		{"leading dash", []Spec{{Verb: "-x"}}, "one or two lowercase words"},
		{"leading slash", []Spec{{Verb: "/invite"}}, "one or two lowercase words"},
		{"bad alias", []Spec{{Verb: "pending", Aliases: []string{""}}}, "one or two lowercase words"},
		{"duplicate verb", []Spec{{Verb: "invite", MaxArgs: -1}, {Verb: "invite", MaxArgs: -1}}, `"invite" is used by both`},
		{"alias clashes with verb", []Spec{{Verb: "pending"}, {Verb: "list", Aliases: []string{"pending"}}}, `"pending" is used by both "pending" and "list"`},
		{"alias clashes with alias", []Spec{{Verb: "a", Aliases: []string{"x"}}, {Verb: "b", Aliases: []string{"x"}}}, `"x" is used by both "a" and "b"`},
		{"alias repeats own verb", []Spec{{Verb: "a", Aliases: []string{"a"}}}, `"a" is used by both`},
		{"max below min", []Spec{{Verb: "role", MinArgs: 2, MaxArgs: 1}}, "MaxArgs 1"},
		{"max below -1", []Spec{{Verb: "role", MaxArgs: -2}}, "MaxArgs -2"},
		{"negative min", []Spec{{Verb: "role", MinArgs: -1, MaxArgs: -1}}, "MinArgs -1"},
		{"flag with dashes", []Spec{{Verb: "x", Flags: []FlagSpec{{Name: "--role"}}}}, `flag name "--role"`},
		{"empty flag name", []Spec{{Verb: "x", Flags: []FlagSpec{{Name: ""}}}}, `flag name ""`},
		{"flag with equals", []Spec{{Verb: "x", Flags: []FlagSpec{{Name: "a=b"}}}}, `flag name "a=b"`},
		{"flag with space", []Spec{{Verb: "x", Flags: []FlagSpec{{Name: "a b"}}}}, `flag name "a b"`},
		{"uppercase flag", []Spec{{Verb: "x", Flags: []FlagSpec{{Name: "Role"}}}}, `flag name "Role"`},
		{"duplicate flag", []Spec{{Verb: "x", Flags: []FlagSpec{{Name: "a", Value: "A"}, {Name: "a"}}}}, "--a is defined twice"},
		{"repeat boolean", []Spec{{Verb: "x", Flags: []FlagSpec{{Name: "yes", Repeat: true}}}}, "boolean flag --yes cannot be Repeat"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := NewRegistry(tt.specs...)
			if err == nil {
				t.Fatalf("NewRegistry succeeded (%v), want error containing %q", r, tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
		})
	}

	if _, err := NewRegistry(); err != nil {
		t.Errorf("empty registry: %v", err)
	}
	// A one-word verb may share its word with two-word verbs.
	if _, err := NewRegistry(Spec{Verb: "workspace"}, Spec{Verb: "workspace create"}); err != nil {
		t.Errorf("verb sharing a first word: %v", err)
	}
}

func TestOneWordVerbSharingFirstWord(t *testing.T) {
	r, err := NewRegistry(Spec{Verb: "workspace", MaxArgs: 1}, Spec{Verb: "workspace create", MinArgs: 1, MaxArgs: 1})
	if err != nil {
		t.Fatal(err)
	}
	for in, want := range map[string]Command{
		"workspace":           {"workspace", []string{}, flags()},
		"workspace ml":        {"workspace", []string{"ml"}, flags()},
		"workspace create ml": {"workspace create", []string{"ml"}, flags()},
	} {
		got, err := r.Parse(in)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("Parse(%q) = %#v, %v; want %#v", in, got, err, want)
		}
	}
}

func TestLookup(t *testing.T) {
	r := sample(t)
	for _, name := range []string{"invite", "INVITE", "pending", "invitations", "workspace create", "Workspace  Create", " ws create ", "accept"} {
		if _, ok := r.Lookup(name); !ok {
			t.Errorf("Lookup(%q) found nothing", name)
		}
	}
	if s, _ := r.Lookup("invitations"); s.Verb != "pending" {
		t.Errorf(`Lookup("invitations").Verb = %q, want "pending"`, s.Verb)
	}
	for _, name := range []string{"", "inv", "workspace", "create"} {
		if s, ok := r.Lookup(name); ok {
			t.Errorf("Lookup(%q) = %q, want nothing", name, s.Verb)
		}
	}

	// What Lookup returns is a copy.
	s, _ := r.Lookup("invite")
	s.Flags[0].Name = "changed"
	s.Aliases = append(s.Aliases, "changed")
	if again, _ := r.Lookup("invite"); again.Flags[0].Name != "role" {
		t.Error("editing a looked-up spec changed the registry")
	}
}

func TestRegistryKeepsItsOwnCopy(t *testing.T) {
	specs := sampleSpecs()
	r, err := NewRegistry(specs...)
	if err != nil {
		t.Fatal(err)
	}
	specs[0].Flags[0].Name = "changed"
	if _, err := r.Parse("invite bob --role admin"); err != nil {
		t.Errorf("editing the caller's specs changed the registry: %v", err)
	}
}

func TestVisible(t *testing.T) {
	var got []string
	for _, s := range sample(t).Visible() {
		got = append(got, s.Verb)
	}
	want := []string{"invite", "pending", "role", "workspace create", "workspaces", "remove", "help", "settings"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Visible() = %q, want %q", got, want)
	}
}

func TestSuggest(t *testing.T) {
	r := sample(t)
	tests := map[string]string{
		"invite":          "invite",
		"INVTE":           "invite",
		"inivte":          "invite",
		"hlep":            "help",
		"hepl":            "help",
		"rol":             "role",
		"invitatons":      "invitations",
		"pendng":          "pending",
		"workspce":        "workspaces",
		"workspace crate": "workspace create",
		"set":             "settings",
		"w":               "",
		"":                "",
		"   ":             "",
		"zzzzzz":          "",
		"accept":          "", // hidden
		"frobnicate":      "",
	}
	for in, want := range tests {
		if got := r.Suggest(in); got != want {
			t.Errorf("Suggest(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestHelpIsNotSpecial(t *testing.T) {
	// A verb may define --help itself; then it is an ordinary flag.
	r, err := NewRegistry(Spec{Verb: "x", Flags: []FlagSpec{{Name: "help"}}})
	if err != nil {
		t.Fatal(err)
	}
	got, err := r.Parse("x --help")
	if err != nil || !got.Has("help") {
		t.Errorf("Parse(x --help) = %#v, %v", got, err)
	}
}

// A hidden flag (what a confirmation button was decided on) parses like any
// other but is never offered to people.
func TestHiddenFlag(t *testing.T) {
	r, err := NewRegistry(Spec{Verb: "role", Usage: "role EMAIL ROLE", MinArgs: 2, MaxArgs: 2,
		Flags: []FlagSpec{{Name: "confirm"}, {Name: "from", Value: "STATE", Hidden: true}}})
	if err != nil {
		t.Fatal(err)
	}
	cmd, err := r.Parse("role bob@example.com viewer --confirm --from member")
	if err != nil || cmd.Flag("from") != "member" || !cmd.Has("confirm") {
		t.Fatalf("parse: %+v, %v", cmd, err)
	}
	for _, typo := range []string{"--frm x", "--xyz"} {
		_, err := r.Parse("role bob@example.com viewer " + typo)
		var perr *Error
		if !errors.As(err, &perr) || strings.Contains(perr.Error(), "from") {
			t.Errorf("%s: %v; want an error that does not point at --from", typo, err)
		}
	}
}
