//go:build playground

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/usher-chat/usher/handlers/org"
	"github.com/usher-chat/usher/storage"
	"github.com/usher-chat/usher/storage/redistest"
)

// The end-to-end run with Microsoft's own local Teams client, the Microsoft
// 365 Agents Playground (npm @microsoft/m365agentsplayground), in place of
// Teams: usher serves /api/messages unauthenticated on loopback (the only
// way the Playground can talk to a bot without an Entra app), the
// Playground's mocked connector is usher's serviceUrl, and the test drives
// the Playground through the same HTTP and WebSocket API its web UI uses.
// scripts/test.d/60-teams.sh installs the Playground and runs this test.
var playgroundCLI = flag.String("playground", os.Getenv("USHER_PLAYGROUND"), "path to the agentsplayground CLI (cli.js or binary)")

func freePort(t *testing.T) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

type pgMessage struct {
	Action               any    `json:"action"`
	ActionConversationID string `json:"actionConversationId"`
	Message              struct {
		MessageID   string `json:"messageId"`
		Text        string `json:"text"`
		Attachments []struct {
			ContentType string         `json:"contentType"`
			Content     map[string]any `json:"content"`
		} `json:"attachments"`
	} `json:"message"`
}

type playground struct {
	t    *testing.T
	base string
	mu   sync.Mutex
	msgs []pgMessage
	cfg  struct {
		Config struct {
			TenantID    string                    `json:"tenantId"`
			Bot         struct{ ID, Name string } `json:"bot"`
			CurrentUser struct {
				ID    string `json:"id"`
				Email string `json:"email"`
			} `json:"currentUser"`
			Users []struct {
				ID    string `json:"id"`
				Email string `json:"email"`
			} `json:"users"`
			PersonalChat struct{ ID string } `json:"personalChat"`
			GroupChats   []struct {
				ID      string   `json:"id"`
				Members []string `json:"members"`
			} `json:"groupChats"`
		} `json:"config"`
	}
}

func (p *playground) post(path string, body any) (int, []byte) {
	p.t.Helper()
	b, _ := json.Marshal(body)
	resp, err := http.Post(p.base+path, "application/json", bytes.NewReader(b))
	if err != nil {
		p.t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out
}

// waitCard waits for a bot message in conv whose card mentions want.
func (p *playground) waitCard(conv, want string) pgMessage {
	p.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		p.mu.Lock()
		for _, m := range p.msgs {
			b, _ := json.Marshal(m.Message)
			if m.ActionConversationID == conv && strings.Contains(string(b), want) {
				p.mu.Unlock()
				return m
			}
		}
		p.mu.Unlock()
		time.Sleep(100 * time.Millisecond)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	var seen []string
	for _, m := range p.msgs {
		b, _ := json.Marshal(m)
		seen = append(seen, string(b))
	}
	p.t.Fatalf("no message in %s mentions %q; the Playground showed:\n%s", conv, want, strings.Join(seen, "\n"))
	return pgMessage{}
}

func TestPlaygroundInviteAccept(t *testing.T) {
	if *playgroundCLI == "" {
		t.Fatal("set USHER_PLAYGROUND (or -playground) to the agentsplayground CLI; scripts/test.d/60-teams.sh installs it")
	}
	srv := redistest.Shared(t)
	orgID := "playground-" + strconv.FormatInt(time.Now().UnixNano()%1e8, 36) // fresh per run
	base, logs := serveUsher(t, map[string]string{"REDIS_URL": srv.URL(), "USHER_ORG": orgID,
		"USHER_ADMINS": "meganb@example.com", "MICROSOFT_ALLOW_UNAUTHENTICATED": "loopback"})
	if !strings.Contains(logs.String(), "TEAMS AUTHENTICATION IS OFF") {
		t.Fatalf("usher did not warn that authentication is off:\n%s", logs)
	}

	port := freePort(t)
	args := []string{"start", "-e", base + "/api/messages", "-c", "msteams", "-p", strconv.Itoa(port), "--dt"}
	name := *playgroundCLI
	if strings.HasSuffix(name, ".js") {
		name, args = "node", append([]string{*playgroundCLI}, args...)
	}
	cmd := exec.Command(name, args...)
	cmd.Dir = t.TempDir()
	cmd.Env = append(os.Environ(), "BROWSER=none", "NO_BROWSER=1")
	var pglog lockedBuffer
	cmd.Stdout, cmd.Stderr = &pglog, &pglog
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	defer func() {
		if t.Failed() {
			t.Logf("playground output:\n%s\nusher log:\n%s", pglog.String(), logs.String())
			rdb := srv.Client(t)
			keys, _ := rdb.Keys(context.Background(), "usher:{"+orgID+"}:teams:*").Result()
			for _, k := range keys {
				v, _ := rdb.Get(context.Background(), k).Result()
				t.Logf("%s = %s", k, v)
			}
		}
	}()
	p := &playground{t: t, base: "http://127.0.0.1:" + strconv.Itoa(port)}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(p.base + "/_internal/v1/config")
		if err == nil {
			json.NewDecoder(resp.Body).Decode(&p.cfg)
			resp.Body.Close()
			if resp.StatusCode == 200 && p.cfg.Config.PersonalChat.ID != "" {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the Playground did not start: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	cfg := p.cfg.Config
	ws, _, err := websocket.DefaultDialer.Dial("ws://127.0.0.1:"+strconv.Itoa(port)+"/_ws_conversation/v1/conversations/stream", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	go func() {
		for {
			_, data, err := ws.ReadMessage()
			if err != nil {
				return
			}
			var m pgMessage
			if json.Unmarshal(data, &m) == nil {
				p.mu.Lock()
				p.msgs = append(p.msgs, m)
				p.mu.Unlock()
			}
		}
	}()

	// Alex (the Playground's current user) opens the personal chat: usher
	// looks him up and stores his conversation reference.
	me, personal := cfg.CurrentUser, cfg.PersonalChat.ID
	if status, body := p.post("/_conversation/v1/conversations/"+personal+"/messages",
		map[string]any{"from": map[string]string{"id": me.ID}, "text": "help", "textFormat": "plain"}); status != 200 {
		t.Fatalf("help: %d %s", status, body)
	}
	p.waitCard(personal, "invite")

	// Megan, an admin, @mentions usher in the group chat to invite Alex. The
	// Playground sends typed messages only as its current user (Alex), so
	// Megan's message is one of its custom activities ("mock an activity").
	var megan struct{ ID, Name, AAD, Email string }
	for _, u := range cfg.Users {
		if u.Email == "meganb@example.com" {
			megan.ID, megan.Email = u.ID, u.Email
		}
	}
	if len(cfg.GroupChats) == 0 || megan.ID == "" {
		t.Fatalf("the Playground's mock data changed: %+v", cfg)
	}
	group := cfg.GroupChats[0].ID
	mention := "<at>" + cfg.Bot.Name + "</at>"
	if status, body := p.post("/_internal/v1/customActivities", map[string]any{
		"type": "message", "id": "megan-1", "channelId": "msteams", "serviceUrl": p.base + "/_connector",
		"from":         map[string]string{"id": megan.ID, "name": "Megan Bowen"},
		"recipient":    map[string]string{"id": cfg.Bot.ID, "name": cfg.Bot.Name},
		"conversation": map[string]any{"id": group, "conversationType": "groupChat", "isGroup": true, "tenantId": cfg.TenantID},
		"text":         mention + " invite " + me.Email + " --role member", "textFormat": "plain",
		"entities": []any{map[string]any{"type": "mention", "text": mention, "mentioned": map[string]string{"id": cfg.Bot.ID, "name": cfg.Bot.Name}}},
	}); status != 200 {
		t.Fatalf("invite: %d %s", status, body)
	}
	p.waitCard(group, "private chat")

	// The invitation arrives in Alex's personal chat; he clicks Accept.
	inv := p.waitCard(personal, "You're invited")
	var accept map[string]any
	for _, a := range inv.Message.Attachments[0].Content["actions"].([]any) {
		if a := a.(map[string]any); a["title"] == "Accept" {
			accept = a
		}
	}
	if accept == nil {
		t.Fatalf("no Accept button: %+v", inv.Message)
	}
	status, body := p.post("/_conversation/v1/invoke", map[string]any{
		"name": "adaptiveCard/action", "replyToId": inv.Message.MessageID,
		"from": map[string]string{"id": me.ID}, "conversation": map[string]string{"id": personal},
		"value": map[string]any{"action": map[string]any{"type": "Action.Execute", "verb": accept["verb"], "data": accept["data"]}, "trigger": "manual"},
	})
	if status != 200 || !strings.Contains(string(body), "AdaptiveCard") || strings.Contains(string(body), "Action.Execute") {
		t.Fatalf("Accept: %d %s", status, body)
	}
	st, err := storage.New(srv.Client(t), org.ID(orgID))
	if err != nil {
		t.Fatal(err)
	}
	snap, err := st.Load(context.Background(), org.Query{Users: []string{me.Email}})
	if err != nil {
		t.Fatal(err)
	}
	if u := snap.Users[me.Email]; u == nil || u.Role != org.RoleMember || u.Status != org.StatusActive {
		t.Fatalf("after Accept in the Playground, %s is %+v", me.Email, u)
	}
	fmt.Fprintf(os.Stderr, "playground: %s invited %s in a group chat; the card reached the personal chat; Accept made them a member\n", "meganb@example.com", me.Email)
}
