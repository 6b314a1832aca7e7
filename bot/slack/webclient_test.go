package slack

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/slack-go/slack"

	"github.com/usher-chat/usher/bot/slack/slacktest"
)

// TestWebClientKeepsItsConnection: calls made one after another, through
// slack-go (users.lookupByEmail, users.info, users.list) and through postMessage, all
// go over one connection, with usher's default client and with one given in
// the Config (see webClient). Without the drain, each users.list page (200
// users: the fake's server sends it chunked) cost a connection.
func TestWebClientKeepsItsConnection(t *testing.T) {
	for name, given := range map[string]*http.Client{"default": nil, "given": {}} {
		t.Run(name, func(t *testing.T) {
			fake := slacktest.New(slacktest.Config{Users: 200})
			defer fake.Close()
			api := newAPI(Config{BotToken: "xoxb-test", APIURL: fake.APIURL()}, webClient(given))
			ctx := context.Background()
			for i := range 20 { // a user each: the fake paces posts per conversation, as Slack does
				u, err := api.GetUserByEmailContext(ctx, slacktest.Email(i+1, "corp.example"))
				if err != nil {
					t.Fatal(err)
				}
				if _, err := api.GetUserInfoContext(ctx, u.ID); err != nil {
					t.Fatal(err)
				}
				if i%2 == 0 {
					// A page of users.list: an answer too long for the
					// fake's server to send with a Content-Length, sent
					// chunked, whose end the decoder does not read.
					if _, err := api.GetUsersPaginated(slack.GetUsersOptionLimit(200)).Next(ctx); err != nil {
						t.Fatal(err)
					}
				}
				b := invitationBody()
				b.Channel = u.ID
				if _, _, err := api.postMessage(ctx, b); err != nil {
					t.Fatal(err)
				}
			}
			if n := fake.Stats().Conns; n != 1 {
				t.Fatalf("70 calls one after another opened %d connections, want 1", n)
			}
		})
	}
	// Calls in flight together: the default client keeps a connection for
	// each (net/http's default transport keeps 2 a host and closes the rest).
	t.Run("together", func(t *testing.T) {
		fake := slacktest.New(slacktest.Config{Users: 8})
		defer fake.Close()
		api := newAPI(Config{BotToken: "xoxb-test", APIURL: fake.APIURL()}, webClient(nil))
		for range 10 {
			var wg sync.WaitGroup
			for i := range 8 {
				wg.Go(func() {
					if _, err := api.GetUserInfoContext(context.Background(), slacktest.UserID(i+1)); err != nil {
						t.Error(err)
					}
				})
			}
			wg.Wait()
		}
		if n := fake.Stats().Conns; n > 8 {
			t.Fatalf("10 rounds of 8 calls at once opened %d connections, want at most 8", n)
		}
	})
	// An error page in place of the answer (a 503 from a proxy in front of
	// the Web API), sent chunked: postMessage gives up on it unread, and
	// the connection is still kept.
	t.Run("error page", func(t *testing.T) {
		var conns atomic.Int32
		srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body)
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(http.StatusServiceUnavailable)
			for range 8 {
				io.WriteString(w, strings.Repeat("<p>Service Unavailable</p>", 20))
				w.(http.Flusher).Flush()
			}
		}))
		srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
			if st == http.StateNew {
				conns.Add(1)
			}
		}
		srv.Start()
		defer srv.Close()
		api := newAPI(Config{BotToken: "xoxb-test", APIURL: srv.URL + "/api/"}, webClient(nil))
		for range 5 {
			var code slack.StatusCodeError
			if _, _, err := api.postMessage(context.Background(), invitationBody()); !errors.As(err, &code) || code.Code != 503 {
				t.Fatalf("%v, want a 503", err)
			}
		}
		if n := conns.Load(); n != 1 {
			t.Fatalf("5 error pages opened %d connections, want 1", n)
		}
	})
	if c := webClient(nil); webClient(c) != c {
		t.Fatal("a client already draining is wrapped again")
	}
}
