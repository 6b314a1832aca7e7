package shell_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kballard/go-shellquote"
)

// TestInviteFile: `invite --file PATH` hands the service the file's list as
// one argument of the invite command, the other flags kept; a missing file
// or a --file without a path is said in the terminal and nothing is run.
func TestInviteFile(t *testing.T) {
	h := newHarness(t, nil)
	path := filepath.Join(t.TempDir(), "people.txt")
	list := "bob@acme.com\nCarol Smith <carol@acme.com>,\n'dana'@acme.com\n"
	if err := os.WriteFile(path, []byte(list), 0o600); err != nil {
		t.Fatal(err)
	}
	h.line("/usher invite --role viewer --file " + path + " --note 'Hi there'")
	words, err := shellquote.Split(h.lastRequest().Text)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"invite", "--role", "viewer", list, "--note", "Hi there"}; strings.Join(words, "|") != strings.Join(want, "|") {
		t.Errorf("sent %q, want %q", words, want)
	}
	h.line("/invite --file=" + path)
	if words, _ := shellquote.Split(h.lastRequest().Text); len(words) != 2 || words[1] != list {
		t.Errorf("--file=PATH sent %q", words)
	}
	n := len(h.svc.reqs)
	if out := h.line("/usher invite --file " + path + ".missing"); !strings.Contains(out, "can't read the list") {
		t.Errorf("a missing file printed %q", out)
	}
	if out := h.line("/usher invite --file"); !strings.Contains(out, "--file needs a path") {
		t.Errorf("--file alone printed %q", out)
	}
	if len(h.svc.reqs) != n {
		t.Errorf("a command was run after a --file error: %q", h.svc.texts()[n:])
	}
}
