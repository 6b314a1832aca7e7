package main

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/usher-chat/usher/storage/redistest"
)

// TestMetricsOwnListener: /metrics is not served on USHER_ADDR (404) but on
// USHER_METRICS_ADDR; its command label names only real commands, so 105
// junk commands typed by anyone make one "other" series and a real invite
// is still labelled invite (an alias, pending, is labelled invitations).
func TestMetricsOwnListener(t *testing.T) {
	srv := redistest.Shared(t)
	edge := newSlackEdge(t)
	suffix := make([]byte, 4)
	rand.Read(suffix)
	base, logs := serveUsher(t, map[string]string{
		"REDIS_URL": srv.URL(), "USHER_ORG": "metrics-" + hex.EncodeToString(suffix), "USHER_ADMINS": "a@example.com",
		"SLACK_SIGNING_SECRET": "s3cret", "SLACK_BOT_TOKEN": "xoxb-1", "SLACK_API_URL": edge.srv.URL + "/api/",
		"USHER_METRICS_ADDR": "127.0.0.1:0",
	})
	get := func(url string) (int, string) {
		t.Helper()
		resp, err := (&http.Client{Timeout: 5 * time.Second}).Get(url)
		if err != nil {
			t.Fatalf("GET %s: %v", url, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, _ := get(base + "/metrics"); code != http.StatusNotFound {
		t.Errorf("/metrics on USHER_ADDR: %d, want 404", code)
	}
	metricsURL := base + "/metrics" // today's place, so the label checks below still say something without the listener
	for _, line := range strings.Split(logs.String(), "\n") {
		var rec struct{ Msg, Addr string }
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "usher metrics serving" {
			metricsURL = "http://" + rec.Addr + "/metrics"
		}
	}
	if metricsURL == base+"/metrics" {
		t.Errorf("no \"usher metrics serving\" log line:\n%s", logs)
	}

	command := func(text string) {
		t.Helper()
		body, h := signedCommand("s3cret", "UADMIN", text, edge.srv.URL+"/respond")
		req, _ := http.NewRequest("POST", base+"/slack/commands", strings.NewReader(body))
		req.Header = h
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("%q: %d", text, resp.StatusCode)
		}
	}
	for i := range 105 {
		command(fmt.Sprintf("junk%d --x", i))
	}
	command("invite bob@example.com")
	command("pending")
	command("workspace create eng")

	code, body := get(metricsURL)
	if code != 200 {
		t.Fatalf("%s: %d", metricsURL, code)
	}
	labels := map[string]bool{}
	for _, m := range regexp.MustCompile(`usher_requests_total\{command="([^"]*)"`).FindAllStringSubmatch(body, -1) {
		labels[m[1]] = true
	}
	// Every command of the language, "none" and "other" at most: here five.
	if len(labels) > 5 {
		t.Errorf("%d command labels after 105 junk commands, want at most 5: %v", len(labels), labels)
	}
	for _, want := range []string{
		`usher_requests_total{command="invite",outcome="ok",platform="slack"} 1`,
		`usher_requests_total{command="invitations",outcome="ok",platform="slack"} 1`,
		`usher_requests_total{command="workspace",outcome="ok",platform="slack"} 1`,
		`usher_requests_total{command="other",outcome="refused",platform="slack"} 105`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}
