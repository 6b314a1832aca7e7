package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/usher-chat/usher/handlers"
	"github.com/usher-chat/usher/handlers/org"
	"github.com/usher-chat/usher/storage"
	"github.com/usher-chat/usher/storage/redistest"
)

// TestWebServesEveryOrganization: `usher serve` mounts the pages with the
// default organization's Service, and an invitation link of another
// organization of the deployment opens, is accepted there, and its password
// signs the person in on the same pages.
func TestWebServesEveryOrganization(t *testing.T) {
	ctx := context.Background()
	srv := redistest.Start(t) // the directory and the person index are deployment-wide
	const secret = "a deployment secret of at least thirty-two characters"
	base, logs := serveUsher(t, map[string]string{"REDIS_URL": srv.URL(), "USHER_ORG": "acme", "USHER_ADMINS": "a@example.com", "USHER_SECRET": secret})

	// Another organization of the deployment, its Service wired as serve
	// wires its tenants (the same deployment secret).
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	t.Cleanup(func() { rdb.Close() })
	if err := storage.NewDirectory(rdb).Create(ctx, storage.Organization{ID: "beta", Name: "Beta"}); err != nil {
		t.Fatal(err)
	}
	st, err := storage.New(rdb, "beta")
	if err != nil {
		t.Fatal(err)
	}
	if err := st.LoadScripts(ctx); err != nil {
		t.Fatal(err)
	}
	cfg := config{publicURL: base, secret: deploymentSecret{value: []byte(secret)}}
	svc, err := handlers.New(handlers.Config{Store: st, PublicURL: base, Deployment: newDeployment(cfg, st, slog.New(slog.DiscardHandler), nil, nil)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.BootstrapAdmin(ctx, "b@example.com"); err != nil {
		t.Fatal(err)
	}
	if err := st.Commit(ctx, org.Change{Settings: map[string]string{"name": "Beta"}}); err != nil {
		t.Fatal(err)
	}
	r := svc.Handle(ctx, handlers.Request{Actor: org.Identity{Platform: "test", UserID: "U1", Email: "b@example.com"}, Text: "invite ann@example.com"})
	link := regexp.MustCompile(`/invitations/[A-Za-z0-9_-]{12}\.[A-Za-z0-9_-]{43}`).FindString(r.Deliveries[0].Message.Footer)
	if link == "" {
		t.Fatalf("no tagged link: %+v", r)
	}

	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	csrf := regexp.MustCompile(`name="csrf" value="([^"]+)"`)
	get := func(path string) (int, string) {
		resp, err := c.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	post := func(path, page string, form url.Values) (int, string) {
		form.Set("csrf", csrf.FindStringSubmatch(page)[1])
		resp, err := c.PostForm(base+path, form)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	code, page := get(link)
	if code != 200 || !strings.Contains(page, "Beta") {
		t.Fatalf("beta's link on acme's pages: %d\n%s", code, page)
	}
	if code, _ := get(link[:len("/invitations/")] + "AAAAAAAAAAAA" + link[len("/invitations/")+12:]); code != 404 {
		t.Fatalf("a link with an unknown tag: %d, want the neutral 404", code)
	}
	pw := "ann's long password"
	code, page = post(link+"/accept", page, url.Values{"name": {"Ann"}, "password": {pw}, "confirm": {pw}})
	if code != 200 || !strings.Contains(page, "Welcome to Beta") {
		t.Fatalf("accept: %d\n%s", code, page)
	}
	code, page = post("/login", page, url.Values{"email": {"ann@example.com"}, "password": {pw}})
	if code != http.StatusSeeOther {
		t.Fatalf("sign in as a member of beta only: %d\n%s\n%s", code, page, logs)
	}
	if code, page = get("/account"); code != 200 || !strings.Contains(page, "Beta") {
		t.Fatalf("account: %d\n%s", code, page)
	}
}

// TestOrgReindex: `usher org create` notes its first admin in the person
// index, and `usher org reindex` notes what was written without it.
func TestOrgReindex(t *testing.T) {
	ctx := context.Background()
	srv := redistest.Start(t)
	rdb := srv.Client(t)
	vars := map[string]string{"REDIS_URL": srv.URL()}
	mustRun(t, vars, "org", "create", "Beta", "--admin", "Bea@Example.com")
	people := storage.NewPeople(rdb)
	if ids, err := people.Orgs(ctx, "bea@example.com"); err != nil || len(ids) != 1 || ids[0] != "beta" {
		t.Fatalf("bea after create: %v %v", ids, err)
	}
	// A member written without the index (an older version).
	st, _ := storage.New(rdb, "beta")
	if err := st.Commit(ctx, org.Change{Users: []org.UserWrite{{User: &org.User{Email: "old@example.com", Role: org.RoleMember, Status: org.StatusActive}}}}); err != nil {
		t.Fatal(err)
	}
	if ids, _ := people.Orgs(ctx, "old@example.com"); len(ids) != 0 {
		t.Fatalf("old is indexed already: %v", ids)
	}
	out := mustRun(t, vars, "org", "reindex")
	if !strings.Contains(out, "beta: 2 members") || !strings.Contains(out, "default: ") {
		t.Fatalf("reindex:\n%s", out)
	}
	if ids, _ := people.Orgs(ctx, "old@example.com"); len(ids) != 1 || ids[0] != "beta" {
		t.Fatalf("old after reindex: %v", ids)
	}
	mustRun(t, vars, "org", "reindex", "beta")
	if _, err := runCmd(t, vars, "org", "reindex", "nope"); org.ErrorCode(err) != org.CodeNotFound {
		t.Fatalf("reindex an unknown org: %v", err)
	}
}
