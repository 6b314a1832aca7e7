package slack

import (
	"bytes"
	"encoding/json"
	"net/http/httptest"
	"testing"

	"github.com/slack-go/slack"

	"github.com/usher-chat/usher/handlers"
	"github.com/usher-chat/usher/handlers/handlerstest"
)

// answers are what writeJSON writes: a command's answer, one with the
// characters encoding/json escapes (mrkdwn links are <...|...>, and & and
// U+2028 are escaped too), a form's field errors, and an empty answer.
func answers() map[string]any {
	return map[string]any{
		"invitation": Ephemeral(handlerstest.InvitationMessage()),
		"escapes": Ephemeral(handlers.Message{Tone: handlers.ToneError,
			Text: "<mailto:a@example.com|a@example.com> & \"b\" <b@example.com>\u2028\u2029 é 🎉 \x01", Footer: "a\\b\tc"}),
		"form errors": slack.NewErrorsViewSubmissionResponse(map[string]string{blockEmails: "x@<y>.com is not an address & more"}),
		"nil message": (*slack.Msg)(nil),
		"no blocks":   &slack.Msg{Text: "plain", ReplaceOriginal: true},
		// A field msgBody does not carry: written whole.
		"attachments": &slack.Msg{Text: "a", Attachments: []slack.Attachment{{Text: "att <x>"}}, Blocks: slack.Blocks{BlockSet: []slack.Block{slack.NewDividerBlock()}}},
		"thread":      &slack.Msg{Text: "t", ThreadTimestamp: "1.2"},
	}
}

// TestAnswerIsEncodingJSONs: writeJSON writes, with goccy/go-json, the
// bytes encoding/json's Encoder writes.
func TestAnswerIsEncodingJSONs(t *testing.T) {
	for name, v := range answers() {
		rec := httptest.NewRecorder()
		writeJSON(rec, v)
		var std bytes.Buffer
		if name != "nil message" {
			if err := json.NewEncoder(&std).Encode(v); err != nil {
				t.Fatal(err)
			}
		}
		if rec.Body.String() != std.String() {
			t.Errorf("%s: writeJSON wrote\n%s\nencoding/json writes\n%s", name, rec.Body, &std)
		}
	}
}

// BenchmarkAnswer: an invitation's answer, written as writeJSON does and,
// the baseline in the same run, with encoding/json's Encoder.
func BenchmarkAnswer(b *testing.B) {
	v := answers()["invitation"]
	b.Run("writeJSON", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			writeJSON(httptest.NewRecorder(), v)
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			rec := httptest.NewRecorder()
			rec.Header().Set("Content-Type", "application/json")
			json.NewEncoder(rec).Encode(v)
		}
	})
}
