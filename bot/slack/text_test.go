package slack_test

import (
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	slackbot "github.com/usher-chat/usher/bot/slack"
)

func TestUnwrap(t *testing.T) {
	cases := []struct {
		in, want string
		mentions []string
	}{
		{"invite <mailto:bob@x.com|bob@x.com>", "invite bob@x.com", nil},
		{"invite <mailto:bob@x.com|bob@x.com>, <mailto:c@x.com|c@x.com>", "invite bob@x.com, c@x.com", nil},
		{"invite <@U123|bob> --role admin", "invite <@U123> --role admin", []string{"U123"}},
		{"invite <@W9ABC>", "invite <@W9ABC>", []string{"W9ABC"}},
		{"workspace create <#C1|general>", "workspace create #general", nil},
		{"invite bob@<http://x.com|x.com>", "invite bob@x.com", nil},
		{"settings name <https://acme.test>", "settings name https://acme.test", nil},
		{"note &lt;hi&gt; &amp; bye", "note <hi> & bye", nil},
		{"<!here> hi", "@here hi", nil},
		{"<!subteam^S1|@admins>", "@admins", nil},
		{"unclosed <mailto:x", "unclosed <mailto:x", nil},
		{"<@lower|x>", "x", nil},
		{"", "", nil},
	}
	for _, c := range cases {
		got, m := slackbot.Unwrap(c.in)
		if got != c.want || !slices.Equal(m, c.mentions) {
			t.Errorf("Unwrap(%q) = %q %v, want %q %v", c.in, got, m, c.want, c.mentions)
		}
	}
}

func FuzzUnwrap(f *testing.F) {
	for _, s := range []string{"invite <mailto:bob@x.com|bob@x.com>", "<@U1|a> <#C1|b> <!here> &lt;&gt;&amp;", "<<>>|<|>", "<mailto:|>", "<@>"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out, mentions := slackbot.Unwrap(s)
		if utf8.ValidString(s) && !utf8.ValidString(out) {
			t.Fatalf("valid input %q gave invalid UTF-8 %q", s, out)
		}
		for _, m := range mentions {
			if !strings.Contains(out, "<@"+m+">") {
				t.Fatalf("mention %s not left in %q", m, out)
			}
		}
		if !strings.ContainsAny(s, "<&") && out != s {
			t.Fatalf("plain text changed: %q -> %q", s, out)
		}
		if len(out) > len(s) {
			t.Fatalf("output longer than input: %q -> %q", s, out)
		}
	})
}

func FuzzDecodeInteraction(f *testing.F) {
	f.Add(`{"type":"block_actions","user":{"id":"U1"},"actions":[{"action_id":"usher-1","value":"accept x"}]}`)
	f.Add(`{"type":"view_submission","view":{"callback_id":"usher_invite","state":{"values":{"emails":{"value":{"value":"a@b.c"}}}}}}`)
	f.Add(`{"type":""}`)
	f.Add(`[]`)
	f.Fuzz(func(t *testing.T, s string) {
		ic, err := slackbot.DecodeInteraction([]byte(s))
		if err == nil && ic.Type == "" {
			t.Fatal("accepted an interaction without a type")
		}
		if err == nil {
			// Whatever decodes must be safe to read the way usher does.
			slackbot.ReadInviteFormForTest(ic)
		}
	})
}
