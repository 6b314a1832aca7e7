package slack

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
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

// postAnswerSeeds are answers Slack documents for chat.postMessage
// (docs.slack.dev/reference/methods/chat.postMessage: the example answer,
// which echoes the message, and an error with its response_metadata).
func postAnswerSeeds(t testing.TB) [][]byte {
	body, err := json.Marshal(invitationBody())
	if err != nil {
		t.Fatal(err)
	}
	echo := `{"ok":true,"channel":"DU00001","ts":"1503435956.000247","message":{"text":"x","username":"usher","bot_id":"B1","type":"message","subtype":"bot_message","ts":"1503435956.000247","body":` + string(body) + `}}` + "\n"
	return [][]byte{[]byte(echo),
		[]byte(`{"ok":false,"error":"invalid_blocks","response_metadata":{"messages":["[ERROR] must be more than 0 characters [json-pointer:/blocks/0/text]"]}}`),
		[]byte(`{"ok":false,"error":"ratelimited"}`), []byte(`{"ok":true,"channel":"C1","ts":"1.2","Ok":false,"OK":true}`),
		[]byte(`{"ok":"true"}`), []byte(`{"ok":true} trailing`), []byte(`{"ok":tru`), []byte(`{"channel":"\u00e9\ud800","ts":1}`)}
}

// FuzzPostAnswer: Slack's answer is read as encoding/json reads it: the
// same answer or none, whatever the bytes.
func FuzzPostAnswer(f *testing.F) {
	for _, s := range postAnswerSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var std postAnswer
		stdErr := json.NewDecoder(bytes.NewReader(data)).Decode(&std)
		ours, oursErr := readPostAnswer(bytes.NewReader(data))
		if (stdErr == nil) != (oursErr == nil) {
			t.Fatalf("%q: encoding/json %v, ours %v", data, stdErr, oursErr)
		}
		if stdErr == nil && !reflect.DeepEqual(std, ours) {
			t.Fatalf("%q: encoding/json %+v, ours %+v", data, std, ours)
		}
	})
}

// BenchmarkPostAnswer reads chat.postMessage's answer (the message echoed)
// as postMessage does and, the baseline in the same run, with encoding/json.
func BenchmarkPostAnswer(b *testing.B) {
	answer := postAnswerSeeds(b)[0]
	b.Run("v1-on-v2", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if a, err := readPostAnswer(bytes.NewReader(answer)); err != nil || !a.OK {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var a postAnswer
			if err := json.NewDecoder(bytes.NewReader(answer)).Decode(&a); err != nil || !a.OK {
				b.Fatal(err)
			}
		}
	})
}
