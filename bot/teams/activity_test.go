package teams_test

import (
	"testing"

	"github.com/usher-chat/usher/bot/teams"
)

// TestCommandText: the bot's @mention (by its mention entity) and the
// markup Teams adds are removed; other people's names stay.
func TestCommandText(t *testing.T) {
	cases := []struct{ body, want string }{
		{`{"text":"invite bob@example.com --role member"}`, "invite bob@example.com --role member"},
		{`{"text":"<at>usher</at> invite bob@example.com","recipient":{"id":"28:bot"},"entities":[{"type":"mention","text":"<at>usher</at>","mentioned":{"id":"28:bot","name":"usher"}}]}`, "invite bob@example.com"},
		{`{"text":"<at>Usher Bot</at>&nbsp;role carol@example.com viewer","recipient":{"id":"28:bot"},"entities":[{"type":"mention","text":"<at>Usher Bot</at>","mentioned":{"id":"28:bot"}}]}`, "role carol@example.com viewer"},
		{`{"text":"<at>usher</at> invite <at>Bob</at> --note &quot;hi &amp; welcome&quot;","recipient":{"id":"28:bot"},"entities":[{"type":"mention","text":"<at>usher</at>","mentioned":{"id":"28:bot"}},{"type":"mention","text":"<at>Bob</at>","mentioned":{"id":"29:bob"}}]}`, `invite Bob --note "hi & welcome"`},
		{`{"text":"/usher help"}`, "help"},
		{`{"text":"/invite a@b.c"}`, "invite a@b.c"},
		{`{"text":"<p>members</p>"}`, "members"},
		{`{"text":"usher"}`, ""},
		{`{"text":"<at>usher</at>","recipient":{"id":"28:bot"},"entities":[{"type":"mention","text":"<at>usher</at>","mentioned":{"id":"28:bot"}}]}`, ""},
	}
	for _, c := range cases {
		a, err := teams.ParseActivity([]byte(c.body))
		if err != nil {
			t.Fatalf("%s: %v", c.body, err)
		}
		if got := a.CommandText(); got != c.want {
			t.Errorf("%s:\n got %q\nwant %q", c.body, got, c.want)
		}
	}
}

// TestParseActivityShapes: a string value (which fails msbotbuilder-go's
// decode) and odd timestamps still parse; clicks are found in every shape.
func TestParseActivityShapes(t *testing.T) {
	for body, want := range map[string]string{
		`{"type":"message","value":"just a string"}`:         "",
		`{"type":"message","value":{"usher":"accept inv1"}}`: "accept inv1",
		`{"type":"invoke","name":"adaptiveCard/action","value":{"action":{"type":"Action.Execute","verb":"usher","data":{"usher":"revoke inv2"}},"trigger":"manual"}}`: "revoke inv2",
		`{"type":"invoke","value":{"usher":"decline inv3","extra":1}}`:         "decline inv3",
		`{"type":"message","value":{"other":"thing"},"timestamp":"yesterday"}`: "",
		`{"type":"message","value":{"usher":42}}`:                              "",
	} {
		a, err := teams.ParseActivity([]byte(body))
		if err != nil {
			t.Fatalf("%s: %v", body, err)
		}
		c, ok := a.Click()
		if got := map[bool]string{true: c.Command}[ok]; got != want {
			t.Errorf("%s: click %q (ok %v), want %q", body, c.Command, ok, want)
		}
	}
}

func FuzzParseActivity(f *testing.F) {
	f.Add([]byte(`{"type":"message","text":"<at>usher</at> invite a@b.c","recipient":{"id":"28:b"},"entities":[{"type":"mention","text":"<at>usher</at>","mentioned":{"id":"28:b"}}]}`))
	f.Add([]byte(`{"type":"invoke","value":{"action":{"data":{"usher":"x","confirm":{"title":"t"}}}}}`))
	f.Add([]byte(`{"value":"s","channelData":{"tenant":{"id":5}}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		a, err := teams.ParseActivity(body)
		if err != nil {
			return
		}
		a.CommandText()
		a.Click()
		a.Tenant()
		a.Personal()
	})
}

// CommandText runs for every message; its Replacer of invisible spaces is
// built once, not per call. A plain command took 19 allocations when it
// was (25 under the race detector) and takes 11 now (17: the detector
// counts more of the regexps' own).
func TestCommandTextBuildsNoReplacerPerCall(t *testing.T) {
	a := &teams.Activity{}
	a.Text = "invite bob@example.com --role member"
	if n := testing.AllocsPerRun(100, func() { a.CommandText() }); n > 17 {
		t.Errorf("CommandText: %.0f allocations, want at most 17", n)
	}
}
