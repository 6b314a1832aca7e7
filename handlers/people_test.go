package handlers_test

import (
	"context"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

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
	return newFleetEnvOn(t, redistest.Shared(t).Client(t))
}

// clusterRDB, when set, is where newFleetEnv starts the fleet instead
// (TestPeopleOnCluster).
var clusterRDB redis.UniversalClient

func newFleetEnvOn(t *testing.T, rdb redis.UniversalClient) *fleetEnv {
	t.Helper()
	if clusterRDB != nil {
		rdb = clusterRDB
	}
	f := handlerstest.NewFleet(t, rdb)
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

// The bell lists ann's invitations from every organization, and its buttons
// work from wherever they are clicked; ann ends up admin in one and viewer
// in another.
func TestBellAcrossOrganizations(t *testing.T) {
	ctx := context.Background()
	e := newFleetEnv(t)
	ann := "ann-" + e.a.ID + "@example.com"
	// ann is an admin of A, invited to B as a viewer and to C as a member.
	idA, _ := inviteIn(t, e.a, bossA, ann, "--role", "admin")
	okIn(t, e.a, ann, "accept "+idA)
	idB, _ := inviteIn(t, e.b, bossB, ann, "--role", "viewer")
	idC, _ := inviteIn(t, e.c, bossC, ann)
	// A stale index entry (an organization ann has nothing in) is dropped.
	stale := e.fleet.NewOrg(t, "Stale", "boss-s@example.com", handlers.Config{})
	if err := e.fleet.People.Note(ctx, org.ID(stale.ID), ann); err != nil {
		t.Fatal(err)
	}

	r := okIn(t, e.a, ann, "invitations --mine")
	var texts []string
	buttons := map[string]string{}
	for _, it := range r.Items {
		if !strings.HasPrefix(it.Text, "For you:") {
			continue
		}
		texts = append(texts, it.Text)
		for _, b := range it.Buttons {
			buttons[b.Label+" "+org.StripText(it.Text)] = b.Command
		}
	}
	if len(texts) != 2 || !strings.Contains(strings.Join(texts, "\n"), "join Beta as viewer") ||
		!strings.Contains(strings.Join(texts, "\n"), "join Gamma as member") {
		t.Fatalf("ann's bell in A: %q", texts)
	}
	// Each names who invited ann, as it would in its own organization's chat
	// (it is addressed to her), and its buttons name its organization.
	for _, it := range r.Items {
		if strings.Contains(it.Text, "Beta") && !strings.Contains(it.Text, bossB) || strings.Contains(it.Text, "Gamma") && !strings.Contains(it.Text, bossC) {
			t.Errorf("the bell does not say who invited ann: %q", it.Text)
		}
		for _, b := range it.Buttons {
			if !strings.Contains(b.Command, "--org ") {
				t.Errorf("a button of another organization's invitation does not name it: %+v", b)
			}
		}
	}
	var acceptB, declineC string
	for k, cmd := range buttons {
		switch {
		case strings.HasPrefix(k, "Accept ") && strings.Contains(k, "Beta"):
			acceptB = cmd
		case strings.HasPrefix(k, "Decline ") && strings.Contains(k, "Gamma"):
			declineC = cmd
		}
	}
	if acceptB != "accept "+idB+" --org "+e.b.ID || declineC != "decline "+idC+" --org "+e.c.ID {
		t.Fatalf("bell buttons: accept B %q, decline C %q", acceptB, declineC)
	}
	// The same bell from B (ann is no member there yet) and from C.
	if r := okIn(t, e.b, ann, "invitations"); len(r.Items) != 2 {
		t.Fatalf("ann's bell in B: %+v", r.Items)
	}

	// Clicked in A's chat: B's invitation is accepted in B, and B's inviter
	// hears it through B's chat, not A's.
	r = okIn(t, e.a, ann, acceptB)
	if !strings.Contains(r.Text, "Welcome to Beta") || len(r.Deliveries) != 0 {
		t.Fatalf("accept B from A: %+v", r)
	}
	if ds := e.fleet.Taken(e.b.ID); len(ds) != 1 || ds[0].To != bossB {
		t.Fatalf("B's chat was handed %+v", ds)
	}
	r = okIn(t, e.a, ann, declineC)
	if !strings.Contains(r.Text, "declined the invitation to Gamma") {
		t.Fatalf("decline C from A: %+v", r)
	}
	e.fleet.Taken(e.c.ID)
	// Clicking again answers from C's own state.
	if r := runIn(e.a, ann, declineC); r.Code != org.CodeConflict {
		t.Fatalf("second decline: %s %s", r.Code, r.Text)
	}

	roleIn := func(o *handlerstest.Org) org.Role {
		snap, err := o.Store.Load(ctx, org.Query{Users: []string{ann}})
		if err != nil || snap.Users[ann] == nil {
			t.Fatalf("ann in %s: %v", o.ID, err)
		}
		return snap.Users[ann].Role
	}
	if roleIn(e.a) != org.RoleAdmin || roleIn(e.b) != org.RoleViewer {
		t.Fatalf("ann is %s in A and %s in B, want admin and viewer", roleIn(e.a), roleIn(e.b))
	}
	// Roles stay each organization's: ann the admin of A may not invite in B.
	if r := runIn(e.b, ann, "invite x@example.com --role admin"); r.Code != org.CodeForbidden {
		t.Fatalf("viewer ann inviting in B: %s %s", r.Code, r.Text)
	}
	// Nothing is left in the bell.
	for _, it := range okIn(t, e.a, ann, "invitations --mine").Items {
		if strings.HasPrefix(it.Text, "For you:") {
			t.Fatalf("bell after answering everything: %q", it.Text)
		}
	}

	// Someone else holding ann's B invitation id gets nothing from it.
	idB2, _ := inviteIn(t, e.b, bossB, "zed-"+e.a.ID+"@example.com")
	if r := runIn(e.a, ann, "accept "+idB2+" --org "+e.b.ID); r.Code != org.CodeNotFound {
		t.Fatalf("ann accepting zed's invitation in B from A: %s %s", r.Code, r.Text)
	}
	if r := runIn(e.a, ann, "accept "+idB2+" --org No{pe}"); r.Code != org.CodeNotFound {
		t.Fatalf("accept in a malformed org: %s %s", r.Code, r.Text)
	}
}

// One password per person: set once, it signs in through any organization's
// pages; a deactivation in one leaves the others; a reset is the person's
// one password, so an admin of one organization may not reset it while the
// person is active in another.
func TestSignInPerPerson(t *testing.T) {
	ctx := context.Background()
	e := newFleetEnv(t)
	ann := "ann-" + e.a.ID + "@example.com"
	const pw = "ann's long password"
	// ann joins B on the web with a password, then A in chat.
	_, tokB := inviteIn(t, e.b, bossB, ann, "--role", "viewer")
	if r, err := e.a.Service.AcceptWithToken(ctx, tokB, "Ann", pw); err != nil || r.Tone != handlers.ToneSuccess {
		t.Fatalf("accept B on the web: %+v %v", r, err)
	}
	idA, _ := inviteIn(t, e.a, bossA, ann, "--role", "admin")
	okIn(t, e.a, ann, "accept "+idA)

	// The same password, through A's pages (the default) and C's (ann is
	// no member of C at all).
	for _, o := range []*handlerstest.Org{e.a, e.c} {
		who, err := o.Service.SignIn(ctx, ann, pw)
		if err != nil || who.MustChangePassword {
			t.Fatalf("sign in through %s: %+v %v", o.ID, who, err)
		}
		a, err := o.Service.WebAccount(ctx, ann, who.Stamp)
		if err != nil {
			t.Fatalf("account through %s: %v", o.ID, err)
		}
		// The pages' own organization first; C's pages show A or B, whichever id sorts first.
		if o == e.a && (a.Org.Name != "Acme" || a.User.Role != org.RoleAdmin) || o == e.c && a.Org.Name == "Gamma" {
			t.Fatalf("account through %s shows %s as %s", o.ID, a.Org.Name, a.User.Role)
		}
	}
	who, _ := e.a.Service.SignIn(ctx, ann, pw)

	// A second invitation accepted on the web with another password keeps
	// the first: a link to one organization doesn't change the others'.
	_, tokC := inviteIn(t, e.c, bossC, ann)
	r, err := e.a.Service.AcceptWithToken(ctx, tokC, "Ann", "some other long password")
	if err != nil || r.Tone != handlers.ToneInfo || !strings.Contains(r.Footer, "already have an usher password") {
		t.Fatalf("accept C with another password: %+v %v", r, err)
	}
	if _, err := e.a.Service.SignIn(ctx, ann, "some other long password"); err != handlers.ErrSignIn {
		t.Fatalf("the second password signs in: %v", err)
	}

	// A's admin may not reset the one password while ann is active in B and C.
	if r := runIn(e.a, bossA, "reset-password "+ann+" --confirm"); r.Code != org.CodeForbidden || !strings.Contains(r.Text, "another organization") {
		t.Fatalf("reset by A's admin: %s %s", r.Code, r.Text)
	}

	// Deactivated in A: the session holds (B and C remain), showing one of them.
	okIn(t, e.a, bossA, "deactivate "+ann+" --confirm")
	a, err := e.a.Service.WebAccount(ctx, ann, who.Stamp)
	if err != nil || a.Org.Name == "Acme" || a.User.Status != org.StatusActive {
		t.Fatalf("account after deactivation in A: %+v %v", a, err)
	}
	if _, err := e.a.Service.SignIn(ctx, ann, pw); err != nil {
		t.Fatalf("sign in after deactivation in A: %v", err)
	}
	// A's own state still says deactivated: A's commands refuse ann.
	if r := runIn(e.a, ann, "members"); r.Code == "" {
		t.Fatalf("deactivated ann runs members in A: %s", r.Text)
	}
	if r := runIn(e.b, ann, "members"); r.Code != "" {
		t.Fatalf("ann in B after deactivation in A: %s %s", r.Code, r.Text)
	}

	// Deactivated in B and C too: signed out at once, and no sign-in.
	okIn(t, e.b, bossB, "deactivate "+ann+" --confirm")
	okIn(t, e.c, bossC, "deactivate "+ann+" --confirm")
	if _, err := e.a.Service.WebAccount(ctx, ann, who.Stamp); err != handlers.ErrSignedOut {
		t.Fatalf("account when deactivated everywhere: %v", err)
	}
	if _, err := e.a.Service.SignIn(ctx, ann, pw); err != handlers.ErrSignIn {
		t.Fatalf("sign in when deactivated everywhere: %v", err)
	}

	// Reactivated in B only, ann is active in no organization but B: B's
	// admin may reset, and the temporary password works once, anywhere.
	okIn(t, e.b, bossB, "activate "+ann+" --confirm")
	r = okIn(t, e.b, bossB, "reset-password "+ann+" --confirm")
	temp := regexp.MustCompile(`password is:\n(\S+)`).FindStringSubmatch(r.Deliveries[0].Message.Text)
	if temp == nil {
		t.Fatalf("no temporary password in %+v", r.Deliveries)
	}
	if _, err := e.a.Service.SignIn(ctx, ann, pw); err != handlers.ErrSignIn {
		t.Fatalf("the old password after a reset: %v", err)
	}
	tw, err := e.a.Service.SignIn(ctx, ann, temp[1])
	if err != nil || !tw.MustChangePassword {
		t.Fatalf("sign in with the temporary password: %+v %v", tw, err)
	}
	if _, err := e.c.Service.SignIn(ctx, ann, temp[1]); err == nil {
		t.Fatal("the temporary password worked twice")
	}
	// Choosing the new one through A's pages: one password again, for all.
	next, _, err := e.a.Service.ChangePassword(ctx, ann, tw.Stamp, "", "ann's new long password", "ann's new long password")
	if err != nil {
		t.Fatalf("change password: %v", err)
	}
	if _, err := e.a.Service.WebAccount(ctx, ann, next.Stamp); err != nil {
		t.Fatalf("account after the change: %v", err)
	}
	if _, err := e.b.Service.SignIn(ctx, ann, "ann's new long password"); err != nil {
		t.Fatalf("the new password through B: %v", err)
	}
	if ds := e.fleet.Taken(e.b.ID); len(ds) == 0 || ds[len(ds)-1].To != ann || !strings.Contains(ds[len(ds)-1].Message.Text, "password") {
		t.Fatalf("the change is told in B's chat (ann's only active organization): %+v", ds)
	}
}

// TestPeopleOnCluster runs the flows across organizations on a Redis
// Cluster: the person index, the link tags, the credentials and each
// organization are in different slots, and no step may span two.
func TestPeopleOnCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster")
	}
	clusterRDB = redistest.StartCluster(t, 3).Client(t)
	defer func() { clusterRDB = nil }()
	t.Run("links", TestLinkFindsItsOrganization)
	t.Run("bell", TestBellAcrossOrganizations)
	t.Run("signin", TestSignInPerPerson)
}
