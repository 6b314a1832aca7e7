package slack_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// socketServer is Slack's Socket Mode edge: a websocket that says hello,
// sends envelopes and collects the acks.
type socketServer struct {
	srv   *httptest.Server
	conns chan *websocket.Conn
}

func newSocketServer(t *testing.T) *socketServer {
	s := &socketServer{conns: make(chan *websocket.Conn, 4)}
	up := websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			t.Errorf("upgrade: %v", err)
			return
		}
		s.conns <- c
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *socketServer) URL() string { return "ws" + strings.TrimPrefix(s.srv.URL, "http") + "/link" }

type ack struct {
	EnvelopeID string          `json:"envelope_id"`
	Payload    json.RawMessage `json:"payload"`
}

// TestSocketMode: with an app token usher connects over Socket Mode
// (apps.connections.open on the Web API gives the websocket URL), answers a
// slash_commands envelope with the ephemeral message as the ack's payload,
// and acknowledges an interactive envelope, then acts on the click.
func TestSocketMode(t *testing.T) {
	ws := newSocketServer(t)
	e := newEnvWith(t, "xapp-1-test")
	e.slack.wsURL = ws.URL()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.app.RunSocketMode(ctx) }()
	defer func() {
		cancel()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Error("socket mode did not stop")
		}
	}()

	var conn *websocket.Conn
	select {
	case conn = <-ws.conns:
	case <-time.After(5 * time.Second):
		t.Fatal("usher never connected")
	}
	defer conn.Close()
	send := func(v any) {
		t.Helper()
		if err := conn.WriteJSON(v); err != nil {
			t.Fatal(err)
		}
	}
	readAck := func() ack {
		t.Helper()
		conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		var a ack
		if err := conn.ReadJSON(&a); err != nil {
			t.Fatalf("no ack: %v", err)
		}
		return a
	}
	send(map[string]any{"type": "hello", "num_connections": 1, "connection_info": map[string]any{"app_id": "A1"},
		"debug_info": map[string]any{"host": "test", "approximate_connection_time": 3600}})
	send(map[string]any{"envelope_id": "env-1", "type": "slash_commands", "accepts_response_payload": true,
		"payload": map[string]any{"token": "x", "team_id": team, "channel_id": "C1", "user_id": uAdmin.ID, "user_name": "ada",
			"command": "/usher", "text": "invite bob@example.com", "response_url": e.slack.ResponseURL("sock"), "trigger_id": "t1"}})
	a := readAck()
	if a.EnvelopeID != "env-1" {
		t.Fatalf("ack for %q", a.EnvelopeID)
	}
	ans := decode[ephemeral](t, a.Payload)
	if ans.ResponseType != "ephemeral" || !strings.Contains(ans.Text, "bob@example.com: invited as member") {
		t.Fatalf("ack payload: %s", a.Payload)
	}
	e.drain()
	inv := e.slack.Messages("DUBOB")
	if len(inv) != 1 {
		t.Fatalf("bob's DM: %v", inv)
	}
	accept := buttons(t, inv[0].Blocks)["Accept"]
	actionID, value, _ := strings.Cut(accept, "=")
	e.slack.Calls()
	send(map[string]any{"envelope_id": "env-2", "type": "interactive", "accepts_response_payload": false,
		"payload": map[string]any{"type": "block_actions", "team": map[string]any{"id": team}, "user": map[string]any{"id": uBob.ID, "team_id": team},
			"container":    map[string]any{"type": "message", "message_ts": inv[0].TS, "channel_id": "DUBOB"},
			"response_url": e.slack.ResponseURL("sock-click"),
			"actions":      []map[string]any{{"type": "button", "action_id": actionID, "value": value, "block_id": "b"}}}})
	if a := readAck(); a.EnvelopeID != "env-2" || len(a.Payload) != 0 && string(a.Payload) != "null" {
		t.Fatalf("interactive ack: %+v", a)
	}
	e.drain()
	var replaced bool
	for _, c := range e.slack.Calls() {
		if c.Method == "respond:sock-click" && respondOf(t, c).ReplaceOriginal {
			replaced = true
		}
	}
	if !replaced {
		t.Fatal("bob's click did not replace his message")
	}
}

// TestSocketModeEnvelopeRedelivered: Slack sends an envelope again
// (retry_attempt) when it saw no ack in time; the redelivery is acknowledged
// and not acted on, so a reset password is sent once.
func TestSocketModeEnvelopeRedelivered(t *testing.T) {
	ws := newSocketServer(t)
	e := newEnvWith(t, "xapp-1-test")
	e.member(uBob)
	e.slack.wsURL = ws.URL()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.app.RunSocketMode(ctx) }()
	defer func() { cancel(); <-done }()
	var conn *websocket.Conn
	select {
	case conn = <-ws.conns:
	case <-time.After(5 * time.Second):
		t.Fatal("usher never connected")
	}
	defer conn.Close()
	conn.WriteJSON(map[string]any{"type": "hello", "num_connections": 1, "connection_info": map[string]any{"app_id": "A1"},
		"debug_info": map[string]any{"host": "test", "approximate_connection_time": 3600}})
	envelope := func(attempt int, reason string) map[string]any {
		return map[string]any{"envelope_id": "env-reset", "type": "slash_commands", "accepts_response_payload": true,
			"retry_attempt": attempt, "retry_reason": reason,
			"payload": map[string]any{"token": "x", "team_id": team, "channel_id": "C1", "user_id": uAdmin.ID, "user_name": "ada",
				"command": "/usher", "text": "reset-password bob@example.com --confirm", "response_url": e.slack.ResponseURL("sock"), "trigger_id": "t9"}}
	}
	var acks []ack
	for i, reason := range []string{"", "timeout"} {
		if err := conn.WriteJSON(envelope(i, reason)); err != nil {
			t.Fatal(err)
		}
		conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		var a ack
		if err := conn.ReadJSON(&a); err != nil {
			t.Fatalf("no ack %d: %v", i, err)
		}
		acks = append(acks, a)
	}
	if acks[0].EnvelopeID != "env-reset" || !strings.Contains(string(acks[0].Payload), "Reset bob@example.com") {
		t.Errorf("first ack: %s %s", acks[0].EnvelopeID, acks[0].Payload)
	}
	if acks[1].EnvelopeID != "env-reset" {
		t.Errorf("redelivery not acknowledged: %+v", acks[1])
	}
	e.drain()
	if n := e.passwords("DUBOB"); n != 1 {
		t.Errorf("bob got %d temporary passwords, want 1", n)
	}
}
