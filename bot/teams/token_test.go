package teams_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/usher-chat/usher/bot/teams"
	"github.com/usher-chat/usher/bot/teams/teamstest"
)

func TestTokensCachedAndRefreshedEarly(t *testing.T) {
	f := teamstest.New(t)
	c := newClock()
	tk := &teams.Tokens{URL: f.TokenURL(), ClientID: f.AppID, Secret: f.Secret, Now: c.Now}
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			if _, err := tk.Token(context.Background()); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if n := f.TokenHits.Load(); n != 1 {
		t.Fatalf("20 concurrent callers fetched %d tokens, want 1", n)
	}
	c.Add(54 * time.Minute) // the fake's tokens live 1 h: not yet within 5 min of expiry
	tk.Token(context.Background())
	if n := f.TokenHits.Load(); n != 1 {
		t.Fatalf("refreshed too early (%d fetches)", n)
	}
	c.Add(2 * time.Minute)
	tk.Token(context.Background())
	if n := f.TokenHits.Load(); n != 2 {
		t.Fatalf("not refreshed 4 minutes before expiry (%d fetches)", n)
	}
}

// The token endpoint's refusals come back with Entra's code and description
// and nothing is cached; once healed, a token is fetched.
func TestTokenErrors(t *testing.T) {
	f := teamstest.New(t)
	tk := &teams.Tokens{URL: f.TokenURL(), ClientID: "99999999-0000-0000-0000-000000000000", Secret: f.Secret}
	_, err := tk.Token(context.Background())
	var te *teams.TokenError
	if !errors.As(err, &te) || te.Code != "unauthorized_client" || !strings.Contains(te.Description, "AADSTS700016") || te.Status != 400 {
		t.Fatalf("unknown app id: %v", err)
	}
	tk = &teams.Tokens{URL: f.TokenURL(), ClientID: f.AppID, Secret: f.Secret}
	f.FailToken(503, "temporarily_unavailable", "AADSTS90033: A transient error has occurred.")
	if _, err := tk.Token(context.Background()); err == nil {
		t.Fatal("no error from a failing endpoint")
	}
	f.FailToken(0, "", "")
	if tok, err := tk.Token(context.Background()); err != nil || tok == "" {
		t.Fatalf("after healing: %q %v", tok, err)
	}
	down := &teams.Tokens{URL: "http://127.0.0.1:1/token", ClientID: f.AppID, Secret: f.Secret, HTTP: &http.Client{Timeout: time.Second}}
	if _, err := down.Token(context.Background()); err == nil {
		t.Fatal("no error from an unreachable endpoint")
	}
	if strings.Contains(err.Error(), f.Secret) {
		t.Fatal("the secret is in the error")
	}
}

// Bearer tokens go only to allow-listed hosts over https (http only on
// loopback); a 401 from the connector gets one retry with a fresh token.
func TestConnectorSendsTokensOnlyToAllowedHosts(t *testing.T) {
	var got atomic.Value
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.Store(r.Header.Get("Authorization"))
	}))
	defer other.Close()
	f := teamstest.New(t)
	tk := &teams.Tokens{URL: f.TokenURL(), ClientID: f.AppID, Secret: f.Secret}
	conn := &teams.Connector{Tokens: tk, Hosts: []string{"smba.trafficmanager.net", "*.botframework.com"}}
	if _, err := conn.Send(context.Background(), other.URL+"/", "a:1", teams.OutActivity{Type: "message", Text: "x"}); err == nil {
		t.Fatal("sent to a host not on the allow-list")
	}
	if got.Load() != nil {
		t.Fatal("a request reached the foreign host")
	}
	for u, want := range map[string]bool{
		"https://smba.trafficmanager.net/amer/": true, "https://europe.botframework.com/": true, "http://smba.trafficmanager.net/": false,
		"https://evilbotframework.com/": false, "https://smba.trafficmanager.net.evil.com/": false, "not a url": false,
	} {
		if conn.HostAllowed(u) != want {
			t.Errorf("HostAllowed(%q) = %v", u, !want)
		}
	}
	local := &teams.Connector{Tokens: tk, Hosts: []string{"127.0.0.1"}}
	f.AddMember(teamstest.Member{ID: "29:x", AADObjectID: "o", Email: "x@example.com"})
	m, err := local.Member(context.Background(), f.ServiceURL(), "a:1", "29:x")
	if err != nil || m.Object() != "o" {
		t.Fatalf("member look-up: %+v %v", m, err)
	}
	f.Fail("a:2", teamstest.Fault{Status: 429, RetryAfter: 7})
	_, err = local.Send(context.Background(), f.ServiceURL(), "a:2", teams.OutActivity{Type: "message"})
	var ae *teams.APIError
	if !errors.As(err, &ae) || ae.Status != 429 || ae.RetryAfter != 7*time.Second {
		t.Fatalf("429: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := local.Send(ctx, f.ServiceURL(), "a:3", teams.OutActivity{Type: "message"}); err == nil {
		t.Fatal("a cancelled context did not stop the call")
	}
}

// The connector's calls against the fake: create a personal chat, send
// (the new id comes back), update, delete.
func TestConnectorConversationCalls(t *testing.T) {
	f := teamstest.New(t)
	f.AddMember(teamstest.Member{ID: "29:u", AADObjectID: "o"})
	conn := &teams.Connector{Tokens: &teams.Tokens{URL: f.TokenURL(), ClientID: f.AppID, Secret: f.Secret}, Hosts: []string{"127.0.0.1"}}
	ctx := context.Background()
	conv, err := conn.CreatePersonal(ctx, teams.Reference{ServiceURL: f.ServiceURL(), Tenant: f.Tenant, UserID: "29:u", BotID: "28:bot"})
	if err != nil || conv == "" {
		t.Fatalf("create conversation: %q %v", conv, err)
	}
	if _, err := conn.CreatePersonal(ctx, teams.Reference{ServiceURL: f.ServiceURL(), Tenant: f.Tenant, UserID: "29:nobody", BotID: "28:bot"}); err == nil {
		t.Fatal("created a chat with an unknown user")
	}
	id, err := conn.Send(ctx, f.ServiceURL(), conv, teams.OutActivity{Type: "message", Text: "one"})
	if err != nil || id == "" {
		t.Fatalf("send: %q %v", id, err)
	}
	if err := conn.Update(ctx, f.ServiceURL(), conv, id, teams.OutActivity{Type: "message", Text: "two"}); err != nil {
		t.Fatal(err)
	}
	if err := conn.Delete(ctx, f.ServiceURL(), conv, id); err != nil {
		t.Fatal(err)
	}
	got := f.Activities(conv)
	if len(got) != 1 || got[0].Body["text"] != "two" || got[0].Updates != 1 || !got[0].Deleted {
		t.Fatalf("connector state: %+v", got)
	}
	if f.TokenHits.Load() != 1 || f.Unauthorized.Load() != 0 {
		t.Fatalf("tokens fetched %d times, %d calls refused", f.TokenHits.Load(), f.Unauthorized.Load())
	}
}

// TestConnectorKeepsItsConnections: connector calls in flight together,
// round after round, reuse their connections (net/http's default transport
// keeps 2 a host idle and closes the rest).
func TestConnectorKeepsItsConnections(t *testing.T) {
	f := teamstest.New(t)
	conn := &teams.Connector{Tokens: &teams.Tokens{URL: f.TokenURL(), ClientID: f.AppID, Secret: f.Secret}, Hosts: []string{"127.0.0.1"}}
	ctx := context.Background()
	convs := make([]string, 8)
	for i := range convs {
		id := fmt.Sprintf("29:u%d", i)
		f.AddMember(teamstest.Member{ID: id, AADObjectID: fmt.Sprintf("o%d", i)})
		c, err := conn.CreatePersonal(ctx, teams.Reference{ServiceURL: f.ServiceURL(), Tenant: f.Tenant, UserID: id, BotID: "28:bot"})
		if err != nil {
			t.Fatal(err)
		}
		convs[i] = c
	}
	before := f.Stats().Conns
	for range 5 {
		var wg sync.WaitGroup
		for _, c := range convs {
			wg.Go(func() {
				if _, err := conn.Send(ctx, f.ServiceURL(), c, teams.OutActivity{Type: "message", Text: "hi"}); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
	}
	if n := f.Stats().Conns - before; n > 8 {
		t.Fatalf("5 rounds of 8 sends at once opened %d connections, want at most 8", n)
	}
}
