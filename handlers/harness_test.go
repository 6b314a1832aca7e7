package handlers_test

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/usher-chat/usher/handlers"
	"github.com/usher-chat/usher/handlers/handlerstest"
	"github.com/usher-chat/usher/handlers/org"
	"github.com/usher-chat/usher/storage"
	"github.com/usher-chat/usher/storage/redistest"
)

func TestMain(m *testing.M) { redistest.Main(m) }

// env is one organization on the package's real redis-server.
type env struct {
	t     testing.TB
	rdb   *redis.Client
	org   string
	store *storage.Store
	svc   *handlers.Service
	clock *handlerstest.Clock
}

const boss = "boss@example.com"

// newEnv starts a fresh organization (its own hash tag) whose admin is boss.
func newEnv(t testing.TB) *env {
	t.Helper()
	rdb := redistest.Shared(t).Client(t)
	return newEnvOn(t, rdb)
}

func newEnvOn(t testing.TB, rdb *redis.Client) *env {
	t.Helper()
	o := handlerstest.NewOrg(t, rdb, "t", boss, handlers.Config{PublicURL: "https://usher.test"})
	return &env{t: t, rdb: rdb, org: o.ID, store: o.Store, svc: o.Service, clock: o.Clock}
}

func (e *env) run(email, text string) handlers.Reply {
	return e.svc.Handle(context.Background(), handlers.Request{
		Actor: org.Identity{Platform: "test", UserID: "U-" + email, Email: email},
		Text:  text,
	})
}

// ok runs a command that must succeed.
func (e *env) ok(email, text string) handlers.Reply {
	e.t.Helper()
	r := e.run(email, text)
	if r.Code != "" {
		e.t.Fatalf("%s: %q: refused with %s: %s", email, text, r.Code, r.Text)
	}
	return r
}

var linkPattern = regexp.MustCompile(`https://usher\.test/invitations/([A-Za-z0-9_-]{43})`)

// invite invites email and returns the invitation id and the link's token.
func (e *env) invite(by, email string, flags ...string) (id, token string) {
	e.t.Helper()
	r := e.ok(by, "invite "+email+" "+strings.Join(flags, " "))
	for _, d := range r.Deliveries {
		if d.Kind == handlers.DeliverInvitation && d.To == email {
			m := linkPattern.FindStringSubmatch(d.Message.Footer)
			if m == nil {
				e.t.Fatalf("no link in %q", d.Message.Footer)
			}
			return d.InvitationID, m[1]
		}
	}
	e.t.Fatalf("invite %s: no invitation delivered: %+v", email, r)
	return "", ""
}

// join invites email as role (with flags) and accepts as them.
func (e *env) join(email string, role org.Role, flags ...string) {
	e.t.Helper()
	id, _ := e.invite(boss, email, append([]string{"--role", string(role)}, flags...)...)
	e.ok(email, "accept "+id)
}

// user reads a user straight from storage.
func (e *env) user(email string) *org.User {
	e.t.Helper()
	snap, err := e.store.Load(context.Background(), org.Query{Users: []string{email}})
	if err != nil {
		e.t.Fatal(err)
	}
	return snap.Users[email]
}

func (e *env) invitation(id string) *org.Invitation {
	e.t.Helper()
	snap, err := e.store.Load(context.Background(), org.Query{Invitation: id})
	if err != nil {
		e.t.Fatal(err)
	}
	return snap.Invitation
}

func asPrecondition(err error, target **org.PreconditionError) bool { return errors.As(err, target) }
