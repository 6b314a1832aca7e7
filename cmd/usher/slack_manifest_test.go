package main

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/dlclark/regexp2"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"sigs.k8s.io/yaml"
)

// ecmaRegexp runs the schema's patterns as JSON Schema says they are meant:
// ECMA-262 regular expressions (the Slack schema uses look-ahead, which Go's
// regexp lacks).
type ecmaRegexp struct{ re *regexp2.Regexp }

func (r ecmaRegexp) MatchString(s string) bool {
	ok, err := r.re.MatchString(s)
	return err == nil && ok
}
func (r ecmaRegexp) String() string { return r.re.String() }

func compileECMA(s string) (jsonschema.Regexp, error) {
	re, err := regexp2.Compile(s, regexp2.ECMAScript)
	if err != nil {
		return nil, err
	}
	return ecmaRegexp{re}, nil
}

// slackSchema finds Slack's app-manifest schema: ../shared/schemas relative
// to the repository root.
func slackSchema(t *testing.T) string {
	t.Helper()
	dir, _ := os.Getwd()
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("repository root not found")
		}
		dir = parent
	}
	p := filepath.Join(dir, "..", "shared", "schemas", "slack-app-manifest.schema.1.0.0.json")
	if _, err := os.Stat(p); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("Slack's app-manifest schema is missing: %v", err)
		}
		t.Skipf("Slack's app-manifest schema not found at %s (CI fails here)", p)
	}
	return p
}

// TestSlackManifestsValidate checks both app manifests against Slack's
// published JSON schema, and that they point at the routes usher serves with
// no scope beyond those docs/slack.md justifies.
func TestSlackManifestsValidate(t *testing.T) {
	raw, err := os.ReadFile(slackSchema(t))
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.UseRegexpEngine(compileECMA)
	if err := c.AddResource("slack-app-manifest.schema.json", doc); err != nil {
		t.Fatal(err)
	}
	schema, err := c.Compile("slack-app-manifest.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"chat:write", "commands", "im:history", "im:write", "users:read", "users:read.email"}
	doc2, err := os.ReadFile(filepath.Join("..", "..", "docs", "slack.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range want {
		if !strings.Contains(string(doc2), "| `"+s+"` |") {
			t.Errorf("docs/slack.md does not justify the scope %s", s)
		}
	}
	for _, name := range []string{"manifest.yaml", "manifest.socket.yaml", "manifest.distributed.yaml"} {
		y, err := os.ReadFile(filepath.Join("..", "..", "manifests", "slack", name))
		if err != nil {
			t.Fatal(err)
		}
		j, err := yaml.YAMLToJSON(y)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(j))
		if err != nil {
			t.Fatal(err)
		}
		if err := schema.Validate(inst); err != nil {
			t.Errorf("%s does not validate against Slack's schema:\n%v", name, err)
		}
		m := inst.(map[string]any)
		scopes := m["oauth_config"].(map[string]any)["scopes"].(map[string]any)["bot"].([]any)
		var got []string
		for _, s := range scopes {
			got = append(got, s.(string))
		}
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("%s: bot scopes %v, want exactly %v", name, got, want)
		}
		settings := m["settings"].(map[string]any)
		socket := settings["socket_mode_enabled"] == true
		if socket != strings.Contains(name, "socket") {
			t.Errorf("%s: socket_mode_enabled = %v", name, socket)
		}
		var cmds []string
		for _, sc := range m["features"].(map[string]any)["slash_commands"].([]any) {
			sc := sc.(map[string]any)
			cmds = append(cmds, sc["command"].(string))
			if url, _ := sc["url"].(string); !socket && !strings.HasSuffix(url, "/slack/commands") {
				t.Errorf("%s: %s url %q", name, sc["command"], url)
			}
		}
		if !slices.Equal(cmds, []string{"/usher", "/invite"}) {
			t.Errorf("%s: commands %v", name, cmds)
		}
		if !socket {
			if u := settings["interactivity"].(map[string]any)["request_url"]; u != "https://usher.example.com/slack/interactions" {
				t.Errorf("%s: interactivity url %v", name, u)
			}
			if u := settings["event_subscriptions"].(map[string]any)["request_url"]; u != "https://usher.example.com/slack/events" {
				t.Errorf("%s: events url %v", name, u)
			}
		}
		if name == "manifest.distributed.yaml" {
			checkDistributedManifest(t, m, got)
		}
	}
	// The schema is really enforced: a manifest with an unknown key fails.
	bad, _ := jsonschema.UnmarshalJSON(strings.NewReader(`{"display_information":{"name":"x"},"bogus":1}`))
	if schema.Validate(bad) == nil {
		t.Fatal("the schema accepted an unknown top-level key")
	}
}

// checkDistributedManifest: the distributed app sends installers back to
// /slack/oauth_redirect, asks for the scopes "Add to Slack" requests,
// allows org-wide installs, and subscribes to every lifecycle event usher
// handles (bot/slack/install_events.go), with token rotation (bot/slack
// refreshes tokens before use).
func checkDistributedManifest(t *testing.T, m map[string]any, scopes []string) {
	t.Helper()
	redirects, _ := m["oauth_config"].(map[string]any)["redirect_urls"].([]any)
	if len(redirects) != 1 || redirects[0] != "https://usher.example.com/slack/oauth_redirect" {
		t.Errorf("distributed: redirect_urls %v", redirects)
	}
	asked := slices.Clone(distributedScopes)
	slices.Sort(asked)
	if !slices.Equal(asked, scopes) {
		t.Errorf("distributed: Add to Slack asks for %v, the manifest lists %v", asked, scopes)
	}
	settings := m["settings"].(map[string]any)
	if settings["org_deploy_enabled"] != true || settings["token_rotation_enabled"] != true {
		t.Errorf("distributed: org_deploy_enabled %v, token_rotation_enabled %v", settings["org_deploy_enabled"], settings["token_rotation_enabled"])
	}
	var events []string
	for _, e := range settings["event_subscriptions"].(map[string]any)["bot_events"].([]any) {
		events = append(events, e.(string))
	}
	for _, e := range []string{"app_uninstalled", "tokens_revoked", "app_uninstalled_team", "team_access_granted", "team_access_revoked", "team_join", "user_change"} {
		if !slices.Contains(events, e) {
			t.Errorf("distributed: no %s subscription", e)
		}
	}
}
