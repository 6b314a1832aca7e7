package slack

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"strings"

	gojson "github.com/goccy/go-json"
	"github.com/slack-go/slack"
	"github.com/slack-go/slack/slackevents"
)

// MaxBody is the largest request body usher reads from Slack.
const MaxBody = 1 << 20

// Routes mounts the three Slack endpoints on mux.
func (a *App) Routes(mux *http.ServeMux) {
	mux.Handle("POST /slack/commands", a.Verified(http.HandlerFunc(a.serveCommand)))
	mux.Handle("POST /slack/interactions", a.Verified(http.HandlerFunc(a.serveInteraction)))
	mux.Handle("POST /slack/events", a.Verified(http.HandlerFunc(a.serveEvent)))
}

// Verified checks a request's Slack signature (X-Slack-Signature, an
// HMAC-SHA256 of "v0:timestamp:body" with the signing secret) and timestamp
// (within 5 minutes) before next sees it; anything else is 401, and so is a
// request already received (a replay), unless Slack marks it as its own
// retry (X-Slack-Retry-Num), which gets an empty 200. Bodies over MaxBody
// are refused; Slack's ssl_check probes get an empty 200.
func (a *App) Verified(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBody))
		if err != nil {
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				a.log.Warn("slack: request body too large", "path", r.URL.Path, "remote", r.RemoteAddr)
				http.Error(w, "request body too large", http.StatusRequestEntityTooLarge)
				return
			}
			http.Error(w, "cannot read body", http.StatusBadRequest)
			return
		}
		if isSSLCheck(r, body) {
			w.WriteHeader(http.StatusOK)
			return
		}
		if err := a.verify(r.Header, body); err != nil {
			// The reason only: never the signature, the secret or the body.
			a.log.Warn("slack: refused unverified request", "path", r.URL.Path, "remote", r.RemoteAddr, "reason", err.Error())
			http.Error(w, "invalid signature", http.StatusUnauthorized)
			return
		}
		// Keyed on the body, not only the signature: a replay repeats both,
		// and Slack's retry repeats the body under a fresh timestamp and
		// signature. Every body Slack sends is unique to its delivery (a
		// trigger_id, an action_ts, an event_id), so a body seen before is
		// one of the two.
		if !a.firstUse(r.Context(), "req", r.URL.Path+"\x00"+string(body)) {
			if n := r.Header.Get("X-Slack-Retry-Num"); n != "" {
				// Slack re-sending a delivery it got no answer to in time (the
				// Events API does; it names the attempt): acknowledge it, as the
				// first delivery was, and act on nothing twice.
				a.log.Info("slack: retry of a request already received acknowledged", "path", r.URL.Path, "retry", n,
					"reason", r.Header.Get("X-Slack-Retry-Reason"))
				w.WriteHeader(http.StatusOK)
				return
			}
			// The same signed request again within the signature's window:
			// someone replaying a capture (a second temporary password, a
			// second resend). Never the signature itself in the log.
			a.log.Warn("slack: refused replayed request", "path", r.URL.Path, "remote", r.RemoteAddr, "reason", "request already received")
			http.Error(w, "replayed request", http.StatusUnauthorized)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		next.ServeHTTP(w, r)
	})
}

func (a *App) verify(h http.Header, body []byte) error {
	if a.cfg.SigningSecret == "" {
		return errors.New("no signing secret configured")
	}
	if h.Get("X-Slack-Signature") == "" || h.Get("X-Slack-Request-Timestamp") == "" {
		return errors.New("missing signature headers")
	}
	sv, err := slack.NewSecretsVerifier(h, a.cfg.SigningSecret)
	if err != nil {
		return err
	}
	if _, err := sv.Write(body); err != nil {
		return err
	}
	return sv.Ensure()
}

func isSSLCheck(r *http.Request, body []byte) bool {
	if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") || !bytes.Contains(body, []byte("ssl_check=1")) {
		return false
	}
	v, err := url.ParseQuery(string(body))
	return err == nil && v.Get("ssl_check") == "1"
}

func (a *App) serveCommand(w http.ResponseWriter, r *http.Request) {
	sc, err := slack.SlashCommandParse(r)
	if err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	writeJSON(w, a.Command(r.Context(), sc))
}

func (a *App) serveInteraction(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	ic, err := DecodeInteraction([]byte(r.PostForm.Get("payload")))
	if err != nil {
		a.log.Warn("slack: bad interaction payload", "err", err)
		http.Error(w, "bad payload", http.StatusBadRequest)
		return
	}
	writeJSON(w, a.Interaction(r.Context(), ic))
}

// DecodeInteraction parses an interaction's payload= JSON.
func DecodeInteraction(payload []byte) (*slack.InteractionCallback, error) {
	var ic slack.InteractionCallback
	if err := json.Unmarshal(payload, &ic); err != nil {
		return nil, err
	}
	if ic.Type == "" {
		return nil, errors.New("interaction without a type")
	}
	return &ic, nil
}

func (a *App) serveEvent(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	ev, err := slackevents.ParseEvent(body, slackevents.OptionNoVerifyToken())
	if err != nil {
		http.Error(w, "bad event", http.StatusBadRequest)
		return
	}
	if ev.Type == slackevents.URLVerification {
		var ch slackevents.ChallengeResponse
		if err := json.Unmarshal(body, &ch); err != nil {
			http.Error(w, "bad challenge", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, ch.Challenge)
		return
	}
	err = a.lifecycle(r.Context(), body)
	if err == nil {
		err = a.directoryEvent(r.Context(), body)
	}
	if err != nil {
		// Verified marked this delivery seen; unmark it so that Slack's
		// retry (it retries a 5xx) is applied rather than acknowledged
		// unread. Applying a lifecycle event twice changes nothing.
		a.log.ErrorContext(r.Context(), "slack: event not applied; Slack will retry it", "err", err)
		if ferr := a.state.Forget(r.Context(), "req", hashKey(r.URL.Path+"\x00"+string(body))); ferr != nil {
			a.log.ErrorContext(r.Context(), "slack: could not unmark the failed event; its retry will be acknowledged unread", "err", ferr)
		}
		http.Error(w, "try again", http.StatusServiceUnavailable)
		return
	}
	// usher subscribes to no other events (the install's lifecycle, and
	// team_join / user_change for the directory); a retry (X-Slack-Retry-Num) of
	// one is acknowledged and dropped, never acted on twice.
	if n := r.Header.Get("X-Slack-Retry-Num"); n != "" {
		a.log.Info("slack: event retry acknowledged", "retry", n, "reason", r.Header.Get("X-Slack-Retry-Reason"))
	}
	w.WriteHeader(http.StatusOK)
}

func writeJSON(w http.ResponseWriter, v any) {
	if v == nil || isNilPtr(v) {
		w.WriteHeader(http.StatusOK)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	// goccy/go-json, as for the outbox's posts: every command's answer is
	// written here. The bytes are encoding/json's (TestAnswerIsEncodingJSONs).
	if m, ok := v.(*slack.Msg); ok {
		if b, ok := asMsgBody(m); ok {
			v = b
		}
	}
	gojson.NewEncoder(w).Encode(v)
}

// msgBody is the part of slack.Msg that usher's answers set, its fields
// named and ordered as in slack.Msg, with the blocks as a plain slice:
// slack.Blocks marshals itself with encoding/json, and slack.Msg has over
// a hundred fields to walk, which made writing an answer a tenth of an
// invite's CPU.
type msgBody struct {
	Text            string              `json:"text,omitempty"`
	ResponseType    string              `json:"response_type,omitempty"`
	ReplaceOriginal bool                `json:"replace_original"`
	DeleteOriginal  bool                `json:"delete_original"`
	Metadata        slack.SlackMetadata `json:"metadata"`
	Blocks          []slack.Block       `json:"blocks"`
}

// msgBodyFields marks slack.Msg's fields that msgBody carries.
var msgBodyFields = func() []bool {
	t := reflect.TypeFor[slack.Msg]()
	in := make([]bool, t.NumField())
	for _, name := range []string{"Text", "ResponseType", "ReplaceOriginal", "DeleteOriginal", "Metadata", "Blocks"} {
		f, ok := t.FieldByName(name)
		if !ok || len(f.Index) != 1 {
			panic("slack.Msg has no field " + name)
		}
		in[f.Index[0]] = true
	}
	return in
}()

// asMsgBody is m as a msgBody, when m sets nothing else.
func asMsgBody(m *slack.Msg) (msgBody, bool) {
	v := reflect.ValueOf(m).Elem()
	for i, in := range msgBodyFields {
		if !in && !v.Field(i).IsZero() {
			return msgBody{}, false
		}
	}
	return msgBody{Text: m.Text, ResponseType: m.ResponseType, ReplaceOriginal: m.ReplaceOriginal, DeleteOriginal: m.DeleteOriginal,
		Metadata: m.Metadata, Blocks: m.Blocks.BlockSet}, true
}

func isNilPtr(v any) bool {
	switch p := v.(type) {
	case *slack.Msg:
		return p == nil
	case *slack.ViewSubmissionResponse:
		return p == nil
	}
	return false
}
