package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/usher-chat/usher/handlers/org"
	"github.com/usher-chat/usher/handlers/secret"
)

// Issue 12, item 5 on the web: dave is invited, then made an account
// another way (`usher admin add`) while the invitation waits. The old link
// must not reactivate that account once deactivated, nor replace its
// password or role while active.

func (s *site) staleInvitation() (id, link string) {
	s.t.Helper()
	id, link = s.invite("dave@example.com", "--role", "viewer", "--workspace", "fraud-models")
	if _, err := s.svc.BootstrapAdmin(context.Background(), "dave@example.com"); err != nil {
		s.t.Fatal(err)
	}
	return id, link
}

func TestStaleLinkDoesNotReactivateAnAccount(t *testing.T) {
	s := newSite(t)
	_, link := s.staleInvitation()
	s.ok(admin, "deactivate dave@example.com --confirm")
	b := s.browser()
	b.get(link)
	p := b.post(link+"/accept", url.Values{"name": {"Dave"}, "password": {goodPassword}, "confirm": {goodPassword}})
	p.has(t, http.StatusForbidden, "deactivated", "Ask an admin to reactivate you.")
	if u := s.user("dave@example.com"); u.Active() || u.PasswordHash != "" || u.Role != org.RoleAdmin {
		t.Fatalf("the old link changed the account: %+v", u)
	}
	b.get("/login")
	b.post("/login", url.Values{"email": {"dave@example.com"}, "password": {goodPassword}}).has(t, http.StatusUnauthorized)
}

func TestStaleLinkKeepsAnActiveAccountsPassword(t *testing.T) {
	s := newSite(t)
	id, link := s.staleInvitation()
	temporary := s.resetPassword("dave@example.com")
	before := s.user("dave@example.com")
	b := s.browser()
	b.get(link)
	p := b.post(link+"/accept", url.Values{"name": {"Dave"}, "password": {goodPassword}, "confirm": {goodPassword}})
	p.has(t, http.StatusOK, "You are already a member of Acme", "your role and password are unchanged", "only an admin can change your role")
	if strings.Contains(text(p.body), "the password you just chose") {
		t.Error("the page speaks of the password just typed, which was not used")
	}
	u := s.user("dave@example.com")
	if u.PasswordHash != before.PasswordHash || secret.CheckPassword(u.PasswordHash, goodPassword) || u.Role != org.RoleAdmin || !u.Active() {
		t.Fatalf("the old link changed the account: %+v", u)
	}
	if _, ok := u.Workspaces.Get("fraud-models"); !ok {
		t.Errorf("the invitation's workspace was not added: %s", u.Workspaces)
	}
	if inv := s.invitation(id); inv.Status != org.InvitationAccepted {
		t.Errorf("invitation %s", inv.Status)
	}
	// The chosen password does not sign in; the account's own one does.
	b.get("/login")
	b.post("/login", url.Values{"email": {"dave@example.com"}, "password": {goodPassword}}).has(t, http.StatusUnauthorized)
	b.signIn("dave@example.com", temporary, "/account/password")
}
