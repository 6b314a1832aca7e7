package handlers_test

import (
	"context"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/usher-chat/usher/handlers"
	"github.com/usher-chat/usher/handlers/handlerstest"
	"github.com/usher-chat/usher/handlers/org"
	"github.com/usher-chat/usher/storage/redistest"
)

// Three organizations of one deployment on one real Redis, with one person
// (ann) in several of them (issue 13, item 4).

type fleetEnv struct {
	t       *testing.T
	fleet   *handlerstest.Fleet
	a, b, c *handlerstest.Org
}

const (
	bossA = "boss-a@example.com"
	bossB = "boss-b@example.com"
	bossC = "boss-c@example.com"
	ann   = "ann@example.com"
)

func newFleetEnv(t *testing.T) *fleetEnv {
	t.Helper()
	f := handlerstest.NewFleet(t, redistest.Shared(t).Client(t))
	cfg := handlers.Config{PublicURL: "https://usher.test"}
	return &fleetEnv{t: t, fleet: f,
		a: f.NewOrg(t, "Acme", bossA, cfg), b: f.NewOrg(t, "Beta", bossB, cfg), c: f.NewOrg(t, "Gamma", bossC, cfg)}
}

func runIn(o *handlerstest.Org, email, text string) handlers.Reply {
	return o.Service.Handle(context.Background(), handlers.Request{
		Actor: org.Identity{Platform: "test", UserID: "U-" + email, Email: email}, Text: text})
}

func okIn(t *testing.T, o *handlerstest.Org, email, text string) handlers.Reply {
	t.Helper()
	r := runIn(o, email, text)
	if r.Code != "" {
		t.Fatalf("%s in %s: %q: refused with %s: %s", email, o.ID, text, r.Code, r.Text)
	}
	return r
}

var taggedLink = regexp.MustCompile(`https://usher\.test/invitations/([A-Za-z0-9_-]{12}\.[A-Za-z0-9_-]{43})`)

// inviteIn invites email to o and returns the invitation id and link token.
func inviteIn(t *testing.T, o *handlerstest.Org, by, email string, flags ...string) (id, token string) {
	t.Helper()
	r := okIn(t, o, by, "invite "+email+" "+strings.Join(flags, " "))
	for _, d := range r.Deliveries {
		if d.Kind == handlers.DeliverInvitation && d.To == email {
			m := taggedLink.FindStringSubmatch(d.Message.Footer)
			if m == nil {
				t.Fatalf("no tagged link in %q", d.Message.Footer)
			}
			return d.InvitationID, m[1]
		}
	}
	t.Fatalf("invite %s: nothing delivered: %+v", email, r)
	return "", ""
}

func TestLinkFindsItsOrganization(t *testing.T) {
	ctx := context.Background()
	e := newFleetEnv(t)
	_, tokB := inviteIn(t, e.b, bossB, ann)
	_, tokC := inviteIn(t, e.c, bossC, "bo@example.com")
	tag, _, _ := strings.Cut(tokB, ".")
	if strings.Contains(tag, e.b.ID) || tag == handlers.LinkTagFor(e.fleet.Key, org.ID(e.a.ID)) {
		t.Fatalf("tag %q names its organization or is another's", tag)
	}
	// A's Service (the one the web pages hold) opens B's link, with B's settings.
	inv, set, err := e.a.Service.InvitationByToken(ctx, tokB)
	if err != nil || inv.Email != ann || set.Name != "Beta" {
		t.Fatalf("B's link through A: %+v %q %v", inv, set.Name, err)
	}
	// Accepting it joins B, and B's inviter hears it through B's chat, not
	// in the reply A's adapter would deliver through its own.
	r, err := e.a.Service.AcceptWithToken(ctx, tokB, "Ann", "a long enough password")
	if err != nil || !strings.Contains(r.Text, "Beta") || len(r.Deliveries) != 0 {
		t.Fatalf("accept B's link through A: %+v %v", r, err)
	}
	if ds := e.fleet.Taken(e.b.ID); len(ds) != 1 || ds[0].To != bossB {
		t.Fatalf("B's chat was handed %+v, want the notice to B's inviter", ds)
	}
	if snap, _ := e.b.Store.Load(ctx, org.Query{Users: []string{ann}}); snap.Users[ann] == nil {
		t.Fatal("ann did not join B")
	}
	if snap, _ := e.a.Store.Load(ctx, org.Query{Users: []string{ann}}); snap.Users[ann] != nil {
		t.Fatal("ann joined A")
	}
	// Declining C's link through B works the same way.
	if _, err := e.b.Service.DeclineWithToken(ctx, tokC); err != nil {
		t.Fatalf("decline C's link through B: %v", err)
	}
	if ds := e.fleet.Taken(e.c.ID); len(ds) != 1 || ds[0].To != bossC {
		t.Fatalf("C's chat was handed %+v", ds)
	}
	// Used, unknown, forged and malformed links all get the one neutral answer.
	_, secretB, _ := strings.Cut(tokB, ".")
	for name, tok := range map[string]string{
		"used":                       tokB,
		"unknown tag":                "AAAAAAAAAAAA." + secretB,
		"B's secret under A's tag":   handlers.LinkTagFor(e.fleet.Key, org.ID(e.a.ID)) + "." + secretB,
		"untagged (the default org)": secretB,
		"short tag":                  "AAAA." + secretB,
		"garbage":                    "x.y.z",
	} {
		if _, _, err := e.a.Service.InvitationByToken(ctx, tok); err != handlers.ErrInvalidLink {
			t.Errorf("%s link: %v, want ErrInvalidLink", name, err)
		}
		if _, err := e.a.Service.DeclineWithToken(ctx, tok); err != handlers.ErrInvalidLink {
			t.Errorf("%s link, decline: %v, want ErrInvalidLink", name, err)
		}
	}
}

// An untagged link (made before tags) belongs to the organization whose
// Service the web pages hold: the default one.
func TestUntaggedLinkIsTheDefaultOrganizations(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t) // a Service without a Deployment makes untagged links
	_, tok := e.invite(boss, "old@example.com")
	if _, _, err := e.svc.InvitationByToken(ctx, tok); err != nil {
		t.Fatalf("untagged link: %v", err)
	}
	if _, _, err := e.svc.InvitationByToken(ctx, "AAAAAAAAAAAA."+tok); err != handlers.ErrInvalidLink {
		t.Fatalf("tagged link on a Service alone: %v", err)
	}
}

func TestPersonIndexIsWrittenWithInvitationsAndUsers(t *testing.T) {
	ctx := context.Background()
	e := newFleetEnv(t)
	// The index is deployment-wide and the tests share one Redis: a person
	// of this test's own.
	ann := "ann-" + e.a.ID + "@example.com"
	inviteIn(t, e.a, bossA, ann)
	inviteIn(t, e.c, bossC, ann)
	got, err := e.fleet.People.Orgs(ctx, ann)
	want := []org.ID{org.ID(e.a.ID), org.ID(e.c.ID)}
	slices.Sort(want)
	if err != nil || !slices.Equal(got, want) {
		t.Fatalf("ann is indexed in %v (%v), want %v", got, err, want)
	}
	if got, _ := e.fleet.People.Orgs(ctx, bossB); !slices.Contains(got, org.ID(e.b.ID)) {
		t.Fatalf("B's bootstrapped admin is indexed in %v", got)
	}
}
