package shell_test

import (
	"bufio"
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/usher-chat/usher/bot/shell"
	"github.com/usher-chat/usher/handlers"
	"github.com/usher-chat/usher/handlers/org"
)

func TestRender(t *testing.T) {
	tests := []struct {
		name string
		msg  handlers.Message
		want string
	}{
		{
			name: "everything",
			msg: handlers.Message{
				Title: "Invitation sent",
				Tone:  handlers.ToneSuccess,
				Text:  "bob@acme.com is invited as member.\nThe link expires in 7d.",
				Fields: []handlers.Field{
					{Label: "Role", Value: "member"},
					{Label: "Workspaces", Value: "ml:editor"},
				},
				Items: []handlers.Item{
					{
						Text:    "bob@acme.com",
						Fields:  []handlers.Field{{Label: "Expires", Value: "in 7d"}},
						Buttons: []handlers.Button{{Label: "Show link", Command: "link inv1"}, {Label: "Revoke", Command: "revoke inv1"}},
					},
					{Text: "carol@acme.com"},
				},
				Buttons: []handlers.Button{{Label: "Invite another", Command: "help invite"}},
				Footer:  "2 invitations pending.",
			},
			want: "✓ Invitation sent\n" +
				"  bob@acme.com is invited as member.\n" +
				"  The link expires in 7d.\n" +
				"  Role: member\n" +
				"  Workspaces: ml:editor\n" +
				"  • bob@acme.com\n" +
				"      Expires: in 7d\n" +
				"      [Show link] [Revoke]\n" +
				"  • carol@acme.com\n" +
				"  [Invite another]\n" +
				"  2 invitations pending.",
		},
		{name: "empty", msg: handlers.Message{}, want: "(empty message)"},
		{name: "title only, info has no mark", msg: handlers.Message{Title: "Members", Tone: handlers.ToneInfo}, want: "Members"},
		{name: "warning mark on the first line of text", msg: handlers.Message{Tone: handlers.ToneWarning, Text: "careful\nreally"}, want: "! careful\n  really"},
		{name: "error mark on the title only", msg: handlers.Message{Tone: handlers.ToneError, Title: "Failed", Text: "why"}, want: "✗ Failed\n  why"},
		{name: "buttons only", msg: handlers.Message{Buttons: []handlers.Button{{Label: "Yes"}, {Label: "No"}}}, want: "[Yes] [No]"},
		{name: "footer only", msg: handlers.Message{Footer: "note"}, want: "note"},
		{name: "fields only", msg: handlers.Message{Fields: []handlers.Field{{Label: "a", Value: "1"}, {Label: "b", Value: "2"}}}, want: "a: 1\n  b: 2"},
		{name: "item first", msg: handlers.Message{Items: []handlers.Item{{Text: "x", Buttons: []handlers.Button{{Label: "Go"}}}}}, want: "• x\n      [Go]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := shell.Render(tt.msg); got != tt.want {
				t.Errorf("Render() =\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

// fakeService stands in for usher's use cases: it records what the shell asks
// and answers with canned replies.
type fakeService struct {
	clock     *shell.Clock
	replies   map[string]handlers.Reply // by command text; default: "ran TEXT"
	reqs      []handlers.Request
	sweeps    []time.Time // the clock at each Sweep
	sweepOut  []handlers.Delivery
	sweepErr  error
	recorded  []string // "ID WHERE"
	recordErr error
}

func (f *fakeService) Handle(_ context.Context, req handlers.Request) handlers.Reply {
	f.reqs = append(f.reqs, req)
	if r, ok := f.replies[req.Text]; ok {
		return r
	}
	return handlers.Reply{Message: handlers.Message{Text: "ran " + req.Text}}
}

func (f *fakeService) Sweep(context.Context) ([]handlers.Delivery, error) {
	f.sweeps = append(f.sweeps, f.clock.Now())
	return f.sweepOut, f.sweepErr
}

func (f *fakeService) RecordDelivery(_ context.Context, id, where string) error {
	f.recorded = append(f.recorded, id+" "+where)
	return f.recordErr
}

// PreferredPlatform: the shell is its only platform, so any answer does.
func (f *fakeService) PreferredPlatform(context.Context) (string, error) { return "slack", nil }

// texts returns the command texts the service received.
func (f *fakeService) texts() []string {
	var out []string
	for _, r := range f.reqs {
		out = append(out, r.Text)
	}
	return out
}

var start = time.Date(2026, 1, 2, 10, 0, 0, 0, time.UTC)

const alice = "alice@acme.com"

type harness struct {
	t   *testing.T
	svc *fakeService
	sh  *shell.Shell
	out *strings.Builder
}

func newHarness(t *testing.T, replies map[string]handlers.Reply) *harness {
	clock := shell.NewClock(start)
	svc := &fakeService{clock: clock, replies: replies}
	out := &strings.Builder{}
	return &harness{t: t, svc: svc, sh: shell.New(svc, clock, out, alice), out: out}
}

// line runs one line and returns what it printed.
func (h *harness) line(l string) string {
	h.t.Helper()
	h.out.Reset()
	if quit := h.sh.Line(h.t.Context(), l); quit {
		h.t.Fatalf("%q ended the session", l)
	}
	return h.out.String()
}

// expect runs one line and checks exactly what it printed.
func (h *harness) expect(l, want string) {
	h.t.Helper()
	if got := h.line(l); got != want {
		h.t.Errorf("%s\nprinted:\n%q\nwant:\n%q", l, got, want)
	}
}

func (h *harness) lastRequest() handlers.Request {
	h.t.Helper()
	if len(h.svc.reqs) == 0 {
		h.t.Fatal("the service received no request")
	}
	return h.svc.reqs[len(h.svc.reqs)-1]
}

func identity(email string) org.Identity {
	return org.Identity{Platform: "shell", UserID: email, Email: email}
}

func TestLines(t *testing.T) {
	const hint = "  Type /usher COMMAND (e.g. /usher help), or :help for the shell's own commands.\n"
	tests := []struct {
		line     string
		wantText []string // what the service received; nil: nothing
		wantOut  string
	}{
		{"/usher help", []string{"help"}, "[to alice@acme.com] ran help\n"},
		{"/usher   members  ", []string{"members"}, "[to alice@acme.com] ran members\n"},
		{"/usher", []string{""}, "[to alice@acme.com] ran \n"},
		{"/invite x", []string{"invite x"}, "[to alice@acme.com] ran invite x\n"},
		{"/invite bob@acme.com --role viewer", []string{"invite bob@acme.com --role viewer"}, "[to alice@acme.com] ran invite bob@acme.com --role viewer\n"},
		{"/invite", []string{"invite"}, "[to alice@acme.com] ran invite\n"},
		{"", nil, ""},
		{"# a comment", nil, ""},
		{"hello", nil, hint},
		{"usher help", nil, hint},
		{"/help", nil, hint},
		{"/inviter x", nil, hint},
		{"/usherhelp", nil, hint},
		{":foo", nil, "  Unknown shell command :foo. Type :help.\n"},
		{":foo bar", nil, "  Unknown shell command :foo. Type :help.\n"},
		{":time", nil, "  It is Fri, 02 Jan 2026 10:00:00 UTC.\n"},
	}
	for _, tt := range tests {
		t.Run(tt.line, func(t *testing.T) {
			h := newHarness(t, nil)
			h.expect(tt.line, tt.wantOut)
			if got := h.svc.texts(); !slices.Equal(got, tt.wantText) {
				t.Errorf("service received %q, want %q", got, tt.wantText)
			}
			for _, r := range h.svc.reqs {
				if r.Actor != identity(alice) {
					t.Errorf("actor = %+v, want %+v", r.Actor, identity(alice))
				}
			}
		})
	}
}

func TestMetaHelpAndParseErrors(t *testing.T) {
	h := newHarness(t, nil)
	help := h.line(":help")
	for _, want := range []string{":as EMAIL", ":click LABEL [N]", ":confirm, :cancel", ":advance DURATION", ":offline EMAIL", ":quit"} {
		if !strings.Contains(help, want) {
			t.Errorf(":help does not mention %q:\n%s", want, help)
		}
	}
	if got := h.line(`:click "Show link`); !strings.HasPrefix(got, "  Can't read that line: ") {
		t.Errorf("unterminated quote printed %q", got)
	}
	if len(h.svc.reqs) != 0 {
		t.Errorf("service received %q", h.svc.texts())
	}
}

func TestAs(t *testing.T) {
	h := newHarness(t, nil)
	h.expect(":as bob@ACME.com", "  You are now bob@acme.com.\n")
	h.line("/usher whoami")
	if got := h.lastRequest(); got.Actor != identity("bob@acme.com") || got.Text != "whoami" {
		t.Errorf("request = %+v", got)
	}
	// Pasted display-name forms work too.
	h.expect(":as Carol <carol@acme.com>", "  You are now carol@acme.com.\n")

	// A bad address changes nothing.
	for _, bad := range []string{":as", ":as nope", ":as bob@localhost"} {
		if got := h.line(bad); !strings.Contains(got, "Usage: :as EMAIL") {
			t.Errorf("%q printed %q", bad, got)
		}
	}
	h.line("/usher whoami")
	if got := h.lastRequest().Actor; got != identity("carol@acme.com") {
		t.Errorf("after bad :as, actor = %+v", got)
	}
}

func TestClick(t *testing.T) {
	h := newHarness(t, map[string]handlers.Reply{
		"older": {Message: handlers.Message{Text: "older", Buttons: []handlers.Button{
			{Label: "Help", Command: "help"},
			{Label: "Revoke", Command: "revoke old"},
		}}},
		"invitations": {Message: handlers.Message{Title: "Pending", Items: []handlers.Item{
			{Text: "bob", Buttons: []handlers.Button{{Label: "Show link", Command: "link inv1"}, {Label: "Revoke", Command: "revoke inv1"}}},
			{Text: "carol", Buttons: []handlers.Button{{Label: "Show link", Command: "link inv2"}, {Label: "Revoke", Command: "revoke inv2"}}},
		}}},
	})
	h.line("/usher older")
	h.line("/usher invitations")

	tests := []struct {
		line     string
		wantText string // "" means: no request
		wantOut  string
	}{
		// The newest message with the label wins, then the first such button on it.
		{":click Revoke", "revoke inv1", "[to alice@acme.com] ran revoke inv1\n"},
		{":click revoke", "revoke inv1", "[to alice@acme.com] ran revoke inv1\n"},
		{":click Revoke 2", "revoke inv2", "[to alice@acme.com] ran revoke inv2\n"},
		{":click Revoke 1", "revoke inv1", "[to alice@acme.com] ran revoke inv1\n"},
		{":click Show link", "link inv1", "[to alice@acme.com] ran link inv1\n"},
		{":click show LINK 2", "link inv2", "[to alice@acme.com] ran link inv2\n"},
		{`:click "Show link" 2`, "link inv2", "[to alice@acme.com] ran link inv2\n"},
		// An older message is used when newer ones lack the label.
		{":click Help", "help", "[to alice@acme.com] ran help\n"},
		// A bad N is not looked for on older messages.
		{":click Revoke 3", "", "  Your newest message with [Revoke] has only 2 of them.\n"},
		{":click Nope", "", "  No message to alice@acme.com has a [Nope] button.\n"},
		{":click", "", "  Usage: :click LABEL [N]\n"},
	}
	for _, tt := range tests {
		n := len(h.svc.reqs)
		h.expect(tt.line, tt.wantOut)
		switch {
		case tt.wantText == "" && len(h.svc.reqs) != n:
			t.Errorf("%s: service received %q", tt.line, h.svc.texts()[n:])
		case tt.wantText != "":
			if r := h.lastRequest(); len(h.svc.reqs) != n+1 || r.Text != tt.wantText || r.Actor != identity(alice) {
				t.Errorf("%s: request = %+v, want %q as alice", tt.line, r, tt.wantText)
			}
		}
	}

	// Buttons are only for the person the message was shown to.
	h.line(":as bob@acme.com")
	h.expect(":click Revoke", "  No message to bob@acme.com has a [Revoke] button.\n")
}

func TestConfirm(t *testing.T) {
	confirm := &handlers.Confirm{Title: "Revoke invitation?", Text: "Its link stops working at once.", Yes: "Revoke", No: "Keep it"}
	h := newHarness(t, map[string]handlers.Reply{
		"invitations": {Message: handlers.Message{Text: "bob, pending", Buttons: []handlers.Button{
			{Label: "Revoke", Command: "revoke inv1 --yes", Style: handlers.StyleDanger, Confirm: confirm},
		}}},
		"revoke inv1 --yes": {Replace: true, Message: handlers.Message{Tone: handlers.ToneSuccess, Text: "Revoked."}},
	})
	const dialog = "  Revoke invitation?\n  Its link stops working at once.\n  [:confirm Revoke] [:cancel Keep it]\n"
	const none = "  There is no confirmation waiting.\n"
	h.line("/usher invitations")
	n := len(h.svc.reqs)

	// :cancel drops the dialog without running anything.
	h.expect(":click Revoke", dialog)
	h.expect(":cancel", "  Cancelled.\n")
	h.expect(":confirm", none)
	h.expect(":cancel", none)

	// Changing identity drops the dialog too.
	h.expect(":click Revoke", dialog)
	h.line(":as bob@acme.com")
	h.expect(":confirm", none)
	h.line(":as " + alice)
	h.expect(":confirm", none)
	if len(h.svc.reqs) != n {
		t.Fatalf("the command ran without confirmation: %q", h.svc.texts()[n:])
	}

	// :confirm runs it once, and the reply replaces the message.
	h.expect(":click Revoke", dialog)
	if len(h.svc.reqs) != n {
		t.Fatalf("the command ran before :confirm: %q", h.svc.texts()[n:])
	}
	h.expect(":confirm", "[to alice@acme.com] (updated in place) ✓ Revoked.\n")
	if r := h.lastRequest(); len(h.svc.reqs) != n+1 || r.Text != "revoke inv1 --yes" || r.Actor != identity(alice) {
		t.Errorf("request = %+v", r)
	}
	h.expect(":confirm", none)
	h.expect(":click Revoke", "  No message to alice@acme.com has a [Revoke] button.\n")
}

// TestConfirmAnswersAPrompt: a risky command (role, deactivate,
// reset-password, revoke) answers with a prompt whose buttons are the command
// with --confirm and Cancel; :confirm and :cancel press them, on the newest
// prompt, as the README says.
func TestConfirmAnswersAPrompt(t *testing.T) {
	prompt := func(q, yes, cmd string) handlers.Reply {
		return handlers.Reply{Message: handlers.Message{Tone: handlers.ToneWarning, Text: q, Buttons: []handlers.Button{
			{Label: yes, Command: cmd + " --confirm", Style: handlers.StylePrimary},
			{Label: "Cancel", Command: "cancel"},
		}}}
	}
	confirm := &handlers.Confirm{Title: "Revoke invitation?", Text: "Its link stops working at once.", Yes: "Revoke", No: "Keep it"}
	h := newHarness(t, map[string]handlers.Reply{
		"role bob@acme.com viewer":              prompt("Change bob@acme.com's role from member to viewer?", "Change role", "role bob@acme.com viewer"),
		"role bob@acme.com viewer --confirm":    {Replace: true, Message: handlers.Message{Tone: handlers.ToneSuccess, Text: "bob@acme.com is now viewer."}},
		"deactivate bob@acme.com":               prompt("Deactivate bob@acme.com?", "Deactivate", "deactivate bob@acme.com"),
		"reset-password bob@acme.com":           prompt("Reset bob@acme.com's password?", "Reset password", "reset-password bob@acme.com"),
		"reset-password bob@acme.com --confirm": {Replace: true, Message: handlers.Message{Tone: handlers.ToneSuccess, Text: "Reset."}},
		"cancel":                                {Replace: true, Message: handlers.Message{Text: "Cancelled; nothing changed."}},
		"invitations": {Message: handlers.Message{Text: "bob, pending", Buttons: []handlers.Button{
			{Label: "Revoke", Command: "revoke inv1 --confirm", Style: handlers.StyleDanger, Confirm: confirm},
		}}},
	})
	const none = "  There is no confirmation waiting.\n"

	h.line("/usher role bob@acme.com viewer")
	h.expect(":confirm", "[to alice@acme.com] (updated in place) ✓ bob@acme.com is now viewer.\n")
	if r := h.lastRequest(); r.Text != "role bob@acme.com viewer --confirm" || r.Actor != identity(alice) {
		t.Errorf("request = %+v", r)
	}
	h.expect(":confirm", none) // the prompt was answered: its buttons are gone

	h.line("/usher deactivate bob@acme.com")
	h.expect(":cancel", "[to alice@acme.com] (updated in place) Cancelled; nothing changed.\n")
	h.expect(":cancel", none)

	// Two prompts waiting: the newest is answered, then the older one.
	h.line("/usher deactivate bob@acme.com")
	h.line("/usher reset-password bob@acme.com")
	h.expect(":confirm", "[to alice@acme.com] (updated in place) ✓ Reset.\n")
	h.expect(":cancel", "[to alice@acme.com] (updated in place) Cancelled; nothing changed.\n")
	h.expect(":confirm", none)

	// A prompt is someone's own: bob has nothing to confirm.
	h.line("/usher role bob@acme.com viewer")
	h.line(":as bob@acme.com")
	h.expect(":confirm", none)
	h.line(":as " + alice)

	// A dialog opened by :click, then a newer prompt: :confirm answers the prompt.
	h.line("/usher invitations")
	h.line(":click Revoke")
	h.line("/usher reset-password bob@acme.com")
	h.line(":confirm")
	if r := h.lastRequest(); r.Text != "reset-password bob@acme.com --confirm" {
		t.Errorf(":confirm after a newer prompt ran %q", r.Text)
	}
}

func invitationReply(bob string) handlers.Reply {
	return handlers.Reply{
		Message: handlers.Message{Tone: handlers.ToneSuccess, Text: "Inviting " + bob + "."},
		Deliveries: []handlers.Delivery{{
			To:           bob,
			Kind:         handlers.DeliverInvitation,
			InvitationID: "inv1",
			Message: handlers.Message{Text: "alice invites you.", Buttons: []handlers.Button{
				{Label: "Accept", Command: "accept inv1"}, {Label: "Decline", Command: "decline inv1"},
			}},
			Sender:        alice,
			OnDelivered:   &handlers.Message{Text: "Sent to " + bob + " in chat."},
			OnUnreachable: &handlers.Message{Text: bob + " is not in chat; forward this link: https://x/i/T"},
		}},
	}
}

func TestDeliveryAndReplace(t *testing.T) {
	const bob = "bob@acme.com"
	h := newHarness(t, map[string]handlers.Reply{
		"invite " + bob: invitationReply(bob),
		"accept inv1":   {Replace: true, Message: handlers.Message{Tone: handlers.ToneSuccess, Text: "Welcome to Acme!"}},
	})

	h.expect("/invite "+bob, "[to alice@acme.com] ✓ Inviting bob@acme.com.\n"+
		"[to bob@acme.com] alice invites you.\n"+
		"  [Accept] [Decline]\n"+
		"[to alice@acme.com] Sent to bob@acme.com in chat.\n")
	if want := []string{"inv1 shell direct message"}; !slices.Equal(h.svc.recorded, want) {
		t.Errorf("recorded %q, want %q", h.svc.recorded, want)
	}

	// The invitee clicks; the reply replaces the message, whose buttons are gone.
	h.line(":as " + bob)
	h.expect(":click Accept", "[to bob@acme.com] (updated in place) ✓ Welcome to Acme!\n")
	if r := h.lastRequest(); r.Text != "accept inv1" || r.Actor != identity(bob) {
		t.Errorf("request = %+v", r)
	}
	h.expect(":click Accept", "  No message to bob@acme.com has a [Accept] button.\n")
	h.expect(":click Decline", "  No message to bob@acme.com has a [Decline] button.\n")

	// A reply with Replace to a typed command (no clicked message) is shown as new.
	h.expect("/usher accept inv1", "[to bob@acme.com] ✓ Welcome to Acme!\n")
}

func TestOffline(t *testing.T) {
	const bob = "bob@acme.com"
	h := newHarness(t, map[string]handlers.Reply{
		"invite " + bob: invitationReply(bob),
		"notify": {Message: handlers.Message{Text: "ok"}, Deliveries: []handlers.Delivery{{
			To: bob, Kind: handlers.DeliverNotice, Message: handlers.Message{Text: "Your role changed."},
		}}},
	})

	h.expect(":offline "+bob, "  bob@acme.com is now offline.\n")
	h.expect("/invite "+bob, "[to alice@acme.com] ✓ Inviting bob@acme.com.\n"+
		"[to alice@acme.com] bob@acme.com is not in chat; forward this link: https://x/i/T\n")
	if want := []string{"inv1 shown to alice@acme.com"}; !slices.Equal(h.svc.recorded, want) {
		t.Errorf("recorded %q, want %q", h.svc.recorded, want)
	}
	// A notice to someone offline is dropped and not recorded.
	h.expect("/usher notify", "[to alice@acme.com] ok\n")
	if len(h.svc.recorded) != 1 {
		t.Errorf("recorded %q", h.svc.recorded)
	}
	// Nothing reached bob.
	h.line(":as " + bob)
	h.expect(":click Accept", "  No message to bob@acme.com has a [Accept] button.\n")

	h.line(":as " + alice)
	h.expect(":online "+bob, "  bob@acme.com is now online.\n")
	h.expect("/usher notify", "[to alice@acme.com] ok\n[to bob@acme.com] Your role changed.\n")
	h.line("/invite " + bob)
	h.line(":as " + bob)
	h.line(":click Accept")
	if r := h.lastRequest(); r.Text != "accept inv1" || r.Actor != identity(bob) {
		t.Errorf("request = %+v", r)
	}

	for _, bad := range []string{":offline", ":offline nope", ":online x@y"} {
		if got := h.line(bad); !strings.Contains(got, "Usage: :o") {
			t.Errorf("%q printed %q", bad, got)
		}
	}
}

func TestRecordDeliveryFailure(t *testing.T) {
	const bob = "bob@acme.com"
	h := newHarness(t, map[string]handlers.Reply{"invite " + bob: invitationReply(bob)})
	h.svc.recordErr = errors.New("db down")
	got := h.line("/invite " + bob)
	if !strings.Contains(got, "  (could not deliver every message: deliver invitation message: record delivery of inv1: db down)\n") {
		t.Errorf("printed %q", got)
	}
}

func TestAdvance(t *testing.T) {
	h := newHarness(t, nil)
	h.svc.sweepOut = []handlers.Delivery{{To: "bob@acme.com", Kind: handlers.DeliverNotice, Message: handlers.Message{Text: "Your invitation expired."}}}

	h.expect(":advance 72h", "  The clock moved forward 3d to Mon, 05 Jan 2026 10:00:00 UTC.\n"+
		"[to bob@acme.com] Your invitation expired.\n")
	if want := []time.Time{start.Add(72 * time.Hour)}; !slices.Equal(h.svc.sweeps, want) {
		t.Errorf("Sweep ran at %v, want %v (after the clock moved)", h.svc.sweeps, want)
	}
	h.svc.sweepOut = nil
	h.expect(":advance 1d12h", "  The clock moved forward 36h to Tue, 06 Jan 2026 22:00:00 UTC.\n")
	if len(h.svc.sweeps) != 2 {
		t.Errorf("Sweep ran %d times, want 2", len(h.svc.sweeps))
	}

	const usage = "  Usage: :advance DURATION (e.g. 72h, 7d, 1d12h)\n"
	for _, bad := range []string{":advance", ":advance soon", ":advance -1h", ":advance 0s", ":advance 7x"} {
		h.expect(bad, usage)
	}
	if len(h.svc.sweeps) != 2 {
		t.Errorf("a refused :advance ran Sweep")
	}
	h.expect(":time", "  It is Tue, 06 Jan 2026 22:00:00 UTC.\n")

	// A failing sweep is reported; what it did deliver is still shown.
	h.svc.sweepErr = errors.New("db down")
	h.svc.sweepOut = []handlers.Delivery{{To: alice, Kind: handlers.DeliverNotice, Message: handlers.Message{Text: "partial"}}}
	h.expect(":advance 1h", "  The clock moved forward 1h to Tue, 06 Jan 2026 23:00:00 UTC.\n"+
		"  Scheduled work failed: db down\n"+
		"[to alice@acme.com] partial\n")
}

func TestRun(t *testing.T) {
	tests := []struct {
		name     string
		in       string
		prompt   bool
		wantOut  string
		wantReqs []handlers.Request
	}{
		{
			name: "script echoes each line with the prompt",
			in:   "/usher help\n\n# a comment\n  :as bob@acme.com  \n/invite carol@acme.com",
			wantOut: "alice@acme.com> /usher help\n" +
				"[to alice@acme.com] ran help\n" +
				"alice@acme.com> :as bob@acme.com\n" +
				"  You are now bob@acme.com.\n" +
				"bob@acme.com> /invite carol@acme.com\n" +
				"[to bob@acme.com] ran invite carol@acme.com\n",
			wantReqs: []handlers.Request{
				{Actor: identity(alice), Text: "help"},
				{Actor: identity("bob@acme.com"), Text: "invite carol@acme.com"},
			},
		},
		{
			name:     ":quit stops early",
			in:       "/usher help\n:quit\n/usher members\n",
			wantOut:  "alice@acme.com> /usher help\n[to alice@acme.com] ran help\nalice@acme.com> :quit\n",
			wantReqs: []handlers.Request{{Actor: identity(alice), Text: "help"}},
		},
		{
			name:    ":q stops early",
			in:      ":q\n/usher members\n",
			wantOut: "alice@acme.com> :q\n",
		},
		{
			name:    ":exit stops early",
			in:      ":exit\n/usher members\n",
			wantOut: "alice@acme.com> :exit\n",
		},
		{
			name:    "empty input",
			in:      "",
			wantOut: "",
		},
		{
			name:     "interactive shows a prompt before each line",
			in:       "/usher help\n",
			prompt:   true,
			wantOut:  "alice@acme.com> [to alice@acme.com] ran help\nalice@acme.com> \n",
			wantReqs: []handlers.Request{{Actor: identity(alice), Text: "help"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, nil)
			if err := h.sh.Run(t.Context(), strings.NewReader(tt.in), tt.prompt); err != nil {
				t.Fatalf("Run: %v", err)
			}
			if got := h.out.String(); got != tt.wantOut {
				t.Errorf("printed:\n%q\nwant:\n%q", got, tt.wantOut)
			}
			if !slices.Equal(h.svc.reqs, tt.wantReqs) {
				t.Errorf("requests = %+v, want %+v", h.svc.reqs, tt.wantReqs)
			}
		})
	}
}

func TestRunReportsReadErrors(t *testing.T) {
	h := newHarness(t, nil)
	err := h.sh.Run(t.Context(), strings.NewReader(strings.Repeat("x", 2<<20)), false)
	if !errors.Is(err, bufio.ErrTooLong) {
		t.Errorf("Run = %v, want %v", err, bufio.ErrTooLong)
	}
}

func TestClock(t *testing.T) {
	c := shell.NewClock(time.Date(2026, 1, 2, 12, 0, 0, 0, time.FixedZone("CET", 3600)))
	if got := c.Now(); got.Location() != time.UTC || !got.Equal(time.Date(2026, 1, 2, 11, 0, 0, 0, time.UTC)) {
		t.Errorf("Now = %v, want 11:00 UTC", got)
	}
	c.Advance(90 * time.Minute)
	if got := c.Now(); !got.Equal(time.Date(2026, 1, 2, 12, 30, 0, 0, time.UTC)) {
		t.Errorf("after Advance, Now = %v", got)
	}
}
