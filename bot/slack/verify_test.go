package slack_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/usher-chat/usher/bot/outbox"
	slackbot "github.com/usher-chat/usher/bot/slack"
	"github.com/usher-chat/usher/handlers"
	"github.com/usher-chat/usher/handlers/org"
)

// Slack's published example (https://api.slack.com/authentication/verifying-requests-from-slack).
const (
	exampleSecret    = "8f742231b10e8888abcd99yyyzzz85a5"
	exampleTimestamp = 1531420618
	exampleBody      = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
	exampleSignature = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
)

// verifier is the adapter's request check in front of a handler that
// records what reached it.
func verifier(t *testing.T, key string) (http.Handler, *syncBuffer, *bool) {
	logs := &syncBuffer{}
	app, err := slackbot.New(slackbot.Config{SigningSecret: key, BotToken: "xoxb-x", Service: nopService{}, State: nopState{}, Queue: nopQueue{}, Router: nopRouter{},
		Tenants: slackbot.Tenants{Teams: []string{"T1DC2JH3J"}}, Logger: slogTo(logs)})
	if err != nil {
		t.Fatal(err)
	}
	reached := false
	return app.Verified(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The body is there again for parsing.
		if err := r.ParseForm(); err != nil || r.PostForm.Get("user_name") != "roadrunner" && r.PostForm.Get("user_name") != "" {
			t.Errorf("body not restored: %v %v", err, r.PostForm)
		}
		reached = true
	})), logs, &reached
}

func serve(h http.Handler, body string, hdr http.Header) int {
	req := httptest.NewRequest("POST", "/slack/commands", strings.NewReader(body))
	req.Header = hdr
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Code
}

func exampleHeader(sig string, ts int64) http.Header {
	h := http.Header{}
	h.Set("Content-Type", "application/x-www-form-urlencoded")
	h.Set("X-Slack-Request-Timestamp", itoa(ts))
	if sig != "" {
		h.Set("X-Slack-Signature", sig)
	}
	return h
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// The request check runs before anything else: these parts are never reached.
type nopService struct{}

func (nopService) Handle(context.Context, handlers.Request) handlers.Reply { panic("unreachable") }
func (nopService) RecordDelivery(context.Context, string, string) error    { panic("unreachable") }
func (nopService) InviteForm(context.Context, org.Identity) (handlers.InviteForm, *handlers.Reply) {
	panic("unreachable")
}

type nopState struct{}

func (nopState) Get(context.Context, string, string) ([]byte, bool, error) { panic("unreachable") }
func (nopState) Set(context.Context, string, string, []byte, time.Duration) error {
	panic("unreachable")
}

// SetNX says every mark is new: these tests send each signed request once.
func (nopState) Forget(context.Context, string, string) error { panic("unreachable") }

func (nopState) SetNX(context.Context, string, string, time.Duration) (bool, error) {
	return true, nil
}
func (nopState) Incr(context.Context, string, string, time.Duration) (int64, error) {
	panic("unreachable")
}

type nopQueue struct{ outbox.Queue }

type nopRouter struct{ slackbot.Router }

// TestSignatureSlackExample runs Slack's own example under a fake clock set
// to its timestamp: it verifies; a wrong secret, a stale timestamp, a
// modified body and a missing header are all 401, and logged without secrets.
func TestSignatureSlackExample(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		time.Sleep(time.Until(time.Unix(exampleTimestamp+30, 0)))
		h, logs, reached := verifier(t, exampleSecret)
		if code := serve(h, exampleBody, exampleHeader(exampleSignature, exampleTimestamp)); code != 200 || !*reached {
			t.Fatalf("Slack's example: %d (reached %v)", code, *reached)
		}
		*reached = false
		hWrong, _, reachedWrong := verifier(t, "8f742231b10e8888abcd99yyyzzz85a6")
		cases := []struct {
			name string
			h    http.Handler
			body string
			hdr  http.Header
		}{
			{"wrong secret", hWrong, exampleBody, exampleHeader(exampleSignature, exampleTimestamp)},
			{"modified body", h, strings.Replace(exampleBody, "roadrunner", "coyote", 1), exampleHeader(exampleSignature, exampleTimestamp)},
			{"missing signature", h, exampleBody, exampleHeader("", exampleTimestamp)},
			{"missing timestamp", h, exampleBody, func() http.Header {
				x := exampleHeader(exampleSignature, exampleTimestamp)
				x.Del("X-Slack-Request-Timestamp")
				return x
			}()},
			{"garbage signature", h, exampleBody, exampleHeader("v0=zz", exampleTimestamp)},
		}
		for _, c := range cases {
			if code := serve(c.h, c.body, c.hdr); code != 401 {
				t.Errorf("%s: %d, want 401", c.name, code)
			}
		}
		if *reached || *reachedWrong {
			t.Fatal("an unverified request reached the handler")
		}
		// Six minutes later the same request is stale.
		time.Sleep(6 * time.Minute)
		if code := serve(h, exampleBody, exampleHeader(exampleSignature, exampleTimestamp)); code != 401 {
			t.Fatalf("stale timestamp: %d, want 401", code)
		}
		out := logs.String()
		if !strings.Contains(out, "refused unverified request") {
			t.Fatalf("no log line for refusals:\n%s", out)
		}
		for _, s := range []string{exampleSecret, strings.TrimPrefix(exampleSignature, "v0="), "xyzz0WbapA4vBCDEFasx0q6G"} {
			if strings.Contains(out, s) {
				t.Fatalf("log leaks %q:\n%s", s, out)
			}
		}
	})
}

func TestBodyLimitAndSSLCheck(t *testing.T) {
	h, _, reached := verifier(t, secret)
	big := "text=" + strings.Repeat("a", slackbot.MaxBody)
	if code := serve(h, big, sign(big, time.Now(), secret)); code != http.StatusRequestEntityTooLarge || *reached {
		t.Fatalf("1 MiB body: %d", code)
	}
	probe := "ssl_check=1&token=x"
	hdr := http.Header{}
	hdr.Set("Content-Type", "application/x-www-form-urlencoded")
	req := httptest.NewRequest("POST", "/slack/commands", strings.NewReader(probe))
	req.Header = hdr
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != 200 || rec.Body.Len() != 0 || *reached {
		t.Fatalf("ssl_check: %d %q", rec.Code, rec.Body.String())
	}
	ok := "user_name=roadrunner"
	if code := serve(h, ok, sign(ok, time.Now(), secret)); code != 200 || !*reached {
		t.Fatalf("signed request: %d", code)
	}
}
