package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDependencyArrows keeps the layering honest: the domain imports only the
// standard library, the use cases no SDK or storage, the adapters no storage.
// Only cmd sees everything.
func TestDependencyArrows(t *testing.T) {
	const mod = "github.com/usher-chat/usher/"
	sdks := []string{"github.com/slack-go/", "github.com/infracloudio/", "github.com/redis/", "github.com/alicebob/", "github.com/robfig/"}
	rules := []struct {
		pkg       string
		forbidden []string
		stdOnly   bool
	}{
		{pkg: mod + "handlers/org", stdOnly: true},
		{pkg: mod + "handlers", forbidden: append([]string{mod + "storage", mod + "storage/", mod + "bot/", mod + "cmd/"}, sdks...)},
		{pkg: mod + "handlers/command", forbidden: append([]string{mod + "storage", mod + "bot/"}, sdks...)},
		{pkg: mod + "storage", forbidden: []string{mod + "handlers", mod + "bot/", "github.com/slack-go/", "github.com/infracloudio/", "github.com/alicebob/"}},
		{pkg: mod + "bot/shell", forbidden: append([]string{mod + "storage"}, sdks...)},
		// The scheduler may parse cron (robfig/cron), but never reach storage, Redis or a chat SDK.
		{pkg: mod + "bot/scheduler", forbidden: []string{mod + "storage", mod + "storage/", mod + "cmd/", mod + "bot/shell", "github.com/redis/", "github.com/alicebob/", "github.com/slack-go/", "github.com/infracloudio/"}},
		// Metrics and request ids: Prometheus only; every adapter imports it, so it imports none of them.
		{pkg: mod + "bot/metrics", forbidden: append([]string{mod + "storage", mod + "storage/", mod + "handlers", mod + "handlers/", mod + "bot/", mod + "cmd/"}, sdks...)},
		// The web pages reach storage only through their ports: no storage, Redis, chat SDK or browser driver.
		{pkg: mod + "bot/web", forbidden: append([]string{mod + "storage", mod + "storage/", mod + "cmd/", mod + "bot/slack", mod + "bot/teams", "github.com/chromedp/"}, sdks...)},
		// The delivery router knows the platforms only by its own interface: no adapter, storage or SDK.
		{pkg: mod + "bot/deliver", forbidden: append([]string{mod + "storage", mod + "storage/", mod + "cmd/", mod + "bot/slack", mod + "bot/teams", mod + "bot/shell", mod + "bot/web"}, sdks...)},
		// The Slack adapter may use slack-go, but never storage or Redis.
		{pkg: mod + "bot/slack", forbidden: []string{mod + "storage", mod + "storage/", mod + "cmd/", "github.com/redis/", "github.com/alicebob/", "github.com/infracloudio/"}},
		// The Teams adapter may use msbotbuilder-go and golang-jwt, but never storage, Redis or Slack.
		{pkg: mod + "bot/teams", forbidden: []string{mod + "storage", mod + "storage/", mod + "cmd/", "github.com/redis/", "github.com/alicebob/", "github.com/slack-go/"}},
	}
	for _, r := range rules {
		out, err := exec.Command("go", "list", "-deps", r.pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("go list -deps %s: %v\n%s", r.pkg, err, out)
		}
		for _, dep := range strings.Fields(string(out)) {
			if dep == r.pkg {
				continue
			}
			if r.stdOnly && strings.Contains(strings.SplitN(dep, "/", 2)[0], ".") {
				t.Errorf("%s imports %s; the domain may import only the standard library", r.pkg, dep)
			}
			for _, f := range r.forbidden {
				// "x/" forbids everything under x; "x" forbids exactly x.
				if dep == f || strings.HasSuffix(f, "/") && strings.HasPrefix(dep, f) {
					t.Errorf("%s depends on %s", r.pkg, dep)
				}
			}
		}
	}
}
