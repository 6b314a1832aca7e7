package shell_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/usher-chat/usher/bot/shell"
	"github.com/usher-chat/usher/handlers"
	"github.com/usher-chat/usher/handlers/org"
)

// fakeOrgs is a deployment's directory: the organizations listed, a fake
// service for each opened, and the creations asked for.
type fakeOrgs struct {
	clock     *shell.Clock
	list      []shell.OrgInfo
	svcs      map[org.ID]*fakeService
	opened    []org.ID
	created   []string // "ID NAME ADMIN"
	createErr error
	open      func(org.ID) shell.Service // instead of a new fakeService
}

func (f *fakeOrgs) List(context.Context) ([]shell.OrgInfo, error) { return f.list, nil }

func (f *fakeOrgs) Open(_ context.Context, id org.ID) (shell.Service, error) {
	f.opened = append(f.opened, id)
	if f.open != nil {
		return f.open(id), nil
	}
	svc := &fakeService{clock: f.clock}
	f.svcs[id] = svc
	return svc, nil
}

func (f *fakeOrgs) Create(_ context.Context, id org.ID, name, admin string) (string, error) {
	if f.createErr != nil {
		return "", f.createErr
	}
	f.created = append(f.created, string(id)+" "+name+" "+admin)
	f.list = append(f.list, shell.OrgInfo{ID: id, Name: name})
	return "Created organization " + string(id) + ".", nil
}

func newOrgHarness(t *testing.T, replies map[string]handlers.Reply) (*harness, *fakeOrgs) {
	h := newHarness(t, replies)
	orgs := &fakeOrgs{clock: h.svc.clock, svcs: map[org.ID]*fakeService{"default": h.svc},
		list: []shell.OrgInfo{{ID: "default", Name: "Default"}, {ID: "globex", Name: "Globex Corp"}}}
	h.sh.SetOrgs(orgs, "default")
	return h, orgs
}

func TestOrgHelpAndSingle(t *testing.T) {
	h := newHarness(t, nil)
	if help := h.line(":help"); !strings.Contains(help, ":org [ID|NAME]") {
		t.Errorf(":help does not list :org:\n%s", help)
	}
	h.expect(":org acme", "  This shell serves one organization only.\n")
}

func TestOrgListAndSwitch(t *testing.T) {
	h, orgs := newOrgHarness(t, nil)
	h.expect(":org", "  You are in organization default (the default). The deployment has 2:\n"+
		"  • default — Default (the default, you are here)\n"+
		"  • globex — Globex Corp\n")
	// By display name (any case), by id, and by the id a name makes.
	for _, arg := range []string{`"globex corp"`, "globex", "Globex"} {
		h.expect(":org "+arg, "  You are now in organization globex.\n")
	}
	if !slices.Equal(orgs.opened, []org.ID{"globex"}) {
		t.Errorf("opened %q, want globex once (the shell keeps each service)", orgs.opened)
	}
	h.expect("/usher members", "[to alice@acme.com] ran members\n")
	if got := orgs.svcs["globex"].texts(); !slices.Equal(got, []string{"members"}) {
		t.Errorf("globex's service received %q", got)
	}
	h.expect(":as bob@acme.com", "  You are now bob@acme.com.\n")
	h.expect(":org", "  You are in organization globex. The deployment has 2:\n"+
		"  • default — Default (the default)\n"+
		"  • globex — Globex Corp (you are here)\n")
	h.expect(":org default", "  You are now in organization default (the default).\n")
	h.expect("/usher help", "[to bob@acme.com] ran help\n")
	if got := h.svc.texts(); !slices.Equal(got, []string{"help"}) {
		t.Errorf("default's service received %q", got)
	}
	if len(orgs.created) > 0 {
		t.Errorf("created %q", orgs.created)
	}
}

// TestOrgCreate: an organization not in the directory is created with the
// current person as its first admin; a refusal switches nowhere.
func TestOrgCreate(t *testing.T) {
	h, orgs := newOrgHarness(t, nil)
	h.expect(":as carol@acme.com", "  You are now carol@acme.com.\n")
	h.expect(`:org "Initech Labs"`, "  Created organization initech-labs.\n  You are now in organization initech-labs.\n")
	if want := []string{"initech-labs Initech Labs carol@acme.com"}; !slices.Equal(orgs.created, want) {
		t.Errorf("created %q, want %q", orgs.created, want)
	}
	orgs.createErr = org.Errorf(org.CodeNotFound, "There is no organization hooli.")
	h.expect(":org hooli", "  ✗ There is no organization hooli.\n")
	h.expect("/usher members", "[to carol@acme.com] ran members\n")
	if got := orgs.svcs["initech-labs"].texts(); !slices.Equal(got, []string{"members"}) {
		t.Errorf("after a refused :org the command went elsewhere: initech-labs got %q", got)
	}
}

func TestOrgUsage(t *testing.T) {
	h, orgs := newOrgHarness(t, nil)
	for line, want := range map[string]string{
		":org --all":  "  :org takes no options (got --all). Usage: :org",
		":org !!!":    `  "!!!" is neither an organization id nor a name: Cannot make an organization id from the name "!!!". Usage: :org`,
		`:org "acme`:  "  Can't read that line: ",
		":org a -b c": "  :org takes no options (got -b).",
	} {
		if got := h.line(line); !strings.HasPrefix(got, want) {
			t.Errorf("%s printed %q, want it to start %q", line, got, want)
		}
	}
	if len(orgs.created)+len(orgs.opened) > 0 {
		t.Errorf("a wrong :org created %q, opened %q", orgs.created, orgs.opened)
	}
}

// TestOrgKeepsChatsApart: a person's messages, and their buttons, stay in
// the organization that sent them.
func TestOrgKeepsChatsApart(t *testing.T) {
	h, orgs := newOrgHarness(t, map[string]handlers.Reply{
		"invitations": {Message: handlers.Message{Text: "1 pending", Buttons: []handlers.Button{{Label: "Revoke", Command: "revoke inv1"}}}},
	})
	h.expect("/usher invitations", "[to alice@acme.com] 1 pending\n  [Revoke]\n")
	h.expect(":org globex", "  You are now in organization globex.\n")
	h.expect(":click Revoke", "  No message to alice@acme.com has a [Revoke] button.\n")
	h.expect(":confirm", "  There is no confirmation waiting.\n")
	h.expect(":org default", "  You are now in organization default (the default).\n")
	h.expect(":click Revoke", "[to alice@acme.com] ran revoke inv1\n")
	if got := orgs.svcs["globex"].texts(); len(got) > 0 {
		t.Errorf("globex's service received %q", got)
	}
}

// TestOrgPromptAndAdvance: the echo names an organization other than the
// default; :advance sweeps every organization visited, saying which.
func TestOrgPromptAndAdvance(t *testing.T) {
	h, orgs := newOrgHarness(t, nil)
	h.out.Reset()
	in := ":org globex\n/usher help\n:org default\n/usher help\n"
	if err := h.sh.Run(t.Context(), strings.NewReader(in), false); err != nil {
		t.Fatal(err)
	}
	want := "alice@acme.com> :org globex\n  You are now in organization globex.\n" +
		"[globex] alice@acme.com> /usher help\n[to alice@acme.com] ran help\n" +
		"[globex] alice@acme.com> :org default\n  You are now in organization default (the default).\n" +
		"alice@acme.com> /usher help\n[to alice@acme.com] ran help\n"
	if got := h.out.String(); got != want {
		t.Errorf("session printed\n%s\nwant\n%s", got, want)
	}
	orgs.svcs["globex"].sweepOut = []handlers.Delivery{{To: "bob@acme.com", Kind: handlers.DeliverNotice, Message: handlers.Message{Text: "a reminder"}}}
	got := h.line(":advance 1d")
	if !strings.Contains(got, "  Scheduled work in organization globex:\n[to bob@acme.com] a reminder\n") {
		t.Errorf(":advance printed\n%s", got)
	}
	if len(h.svc.sweeps) != 1 || len(orgs.svcs["globex"].sweeps) != 1 {
		t.Errorf("sweeps: default %d, globex %d; want one each", len(h.svc.sweeps), len(orgs.svcs["globex"].sweeps))
	}
}

// TestOrgAdvanceTicks: each organization's scheduled runs happen at its own
// times, in time order, the other organization's labelled.
func TestOrgAdvanceTicks(t *testing.T) {
	home, sh, out := newTicking(t) // daily at 09:00
	globex := &tickingService{fakeService: &fakeService{clock: home.clock}, every: 12 * time.Hour}
	orgs := &fakeOrgs{clock: home.clock, svcs: map[org.ID]*fakeService{}, list: []shell.OrgInfo{{ID: "default"}, {ID: "globex"}},
		open: func(org.ID) shell.Service { return globex }}
	sh.SetOrgs(orgs, "default")
	sh.Line(t.Context(), ":org globex")
	day := func(d, h int) time.Time { return time.Date(2026, 1, d, h, 0, 0, 0, time.UTC) }
	home.deliverAt = map[time.Time]string{day(3, 9): "home's run"}
	globex.deliverAt = map[time.Time]string{day(3, 0): "globex at midnight", day(3, 12): "globex at noon"}
	out.Reset()
	sh.Line(t.Context(), ":advance 1d")
	want := "  The clock moved forward 1d to Sat, 03 Jan 2026 10:00:00 UTC.\n" +
		"  Scheduled run at Sat, 03 Jan 2026 00:00:00 UTC in organization globex:\n[to bob@acme.com] globex at midnight\n" +
		"  Scheduled run at Sat, 03 Jan 2026 09:00:00 UTC:\n[to bob@acme.com] home's run\n"
	if got := out.String(); got != want {
		t.Errorf(":advance printed\n%s\nwant\n%s", got, want)
	}
	if want := []time.Time{day(2, 12), day(3, 0)}; !slices.Equal(globex.sweeps, want) {
		t.Errorf("globex swept at %v, want %v", globex.sweeps, want)
	}
	if want := []time.Time{day(3, 9)}; !slices.Equal(home.sweeps, want) {
		t.Errorf("home swept at %v, want %v", home.sweeps, want)
	}
}
