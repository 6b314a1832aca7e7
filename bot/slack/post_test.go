package slack

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	gojson "github.com/goccy/go-json"
	"github.com/slack-go/slack"

	"github.com/usher-chat/usher/bot/outbox"
	"github.com/usher-chat/usher/handlers/handlerstest"
)

// TestPostMessageAnswers: each of Slack's answers to chat.postMessage
// (https://docs.slack.dev/reference/methods/chat.postMessage, "Errors";
// https://docs.slack.dev/apis/web-api/rate-limits) reaches the outbox as
// the delivery's outcome: posted (the echoed message skipped), wait and
// retry, retry later, or give up.
func TestPostMessageAnswers(t *testing.T) {
	cases := []struct {
		name    string
		status  int
		header  map[string]string
		body    string
		channel string
		wait    time.Duration // an *outbox.RetryAfter's
		perm    bool          // an *outbox.Permanent
		fails   bool
	}{
		{name: "posted", status: 200, channel: "D1",
			body: `{"ok":true,"channel":"D1","ts":"1.2","message":{"type":"message","text":"hi","blocks":[{"type":"section","text":{"type":"mrkdwn","text":"hi"}}],"ts":"1.2"}}`},
		{name: "429 with Retry-After", status: 429, header: map[string]string{"Retry-After": "7"}, wait: 7 * time.Second, fails: true},
		{name: "429 without Retry-After", status: 429, wait: time.Second, fails: true},
		{name: "5xx, an HTML page", status: 503, body: "<html>down</html>", fails: true},
		{name: "not ok: bad blocks", status: 200, body: `{"ok":false,"error":"invalid_blocks","response_metadata":{"messages":["[ERROR] bad"]}}`, perm: true, fails: true},
		{name: "not ok: transient", status: 200, body: `{"ok":false,"error":"internal_error"}`, fails: true},
		{name: "not JSON", status: 200, body: `<html>`, fails: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				for k, v := range c.header {
					w.Header().Set(k, v)
				}
				w.WriteHeader(c.status)
				io.WriteString(w, c.body)
			}))
			defer srv.Close()
			api := newAPI(Config{BotToken: "xoxb-t", APIURL: srv.URL + "/api"}, srv.Client())
			ch, ts, err := api.postMessage(context.Background(), postBody{Channel: "U1", Text: "hi"})
			if (err != nil) != c.fails {
				t.Fatalf("err %v, want failure %v", err, c.fails)
			}
			if !c.fails {
				if ch != c.channel || ts != "1.2" {
					t.Fatalf("posted to %q at %q", ch, ts)
				}
				return
			}
			err = classify(err)
			var ra *outbox.RetryAfter
			var perm *outbox.Permanent
			switch {
			case c.wait > 0:
				if !errors.As(err, &ra) || ra.Wait != c.wait {
					t.Fatalf("%v, want a retry after %s", err, c.wait)
				}
			case c.perm:
				if !errors.As(err, &perm) {
					t.Fatalf("%v, want permanent", err)
				}
			default:
				if errors.As(err, &ra) || errors.As(err, &perm) {
					t.Fatalf("%v, want a plain (retried with backoff) error", err)
				}
			}
		})
	}
}

// invitationBody is the chat.postMessage body of an invitation.
func invitationBody() postBody {
	m := handlerstest.InvitationMessage()
	blocks, text := Render(m)
	return postBody{Channel: "U1", Text: text, Blocks: blocks,
		Metadata: slack.SlackMetadata{EventType: metadataType, EventPayload: map[string]any{"key": "e111de187c7f8692a160d8f6"}}}
}

// TestPostBodyIsEncodingJSONs: goccy/go-json writes the body byte for byte
// as encoding/json does (slack-go's block types marshal themselves).
func TestPostBodyIsEncodingJSONs(t *testing.T) {
	b := invitationBody()
	ours, err := gojson.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	std, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	if string(ours) != string(std) {
		t.Fatalf("goccy/go-json:\n%s\nencoding/json:\n%s", ours, std)
	}
}

// BenchmarkPostBody: an invitation's chat.postMessage body, written as
// postMessage does and, the baseline in the same run, with encoding/json.
func BenchmarkPostBody(b *testing.B) {
	body := invitationBody()
	b.Run("goccy-go-json", func(b *testing.B) {
		for range b.N {
			if _, err := gojson.Marshal(body); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		for range b.N {
			if _, err := json.Marshal(body); err != nil {
				b.Fatal(err)
			}
		}
	})
}
