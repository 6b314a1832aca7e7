package web_test

import (
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// TestExportDownload: the link a `members --export` gives opens a page (so
// a chat's link preview spends nothing); its button downloads the CSV once.
func TestExportDownload(t *testing.T) {
	s := newSite(t)
	r := s.ok(admin, "members --export")
	m := regexp.MustCompile(regexp.QuoteMeta(s.srv.URL) + `(/export/[A-Za-z0-9_-]{43})`).FindStringSubmatch(r.Text)
	if m == nil {
		t.Fatalf("no link in %q", r.Text)
	}
	path := m[1]
	b := s.browser()
	// A preview fetches the page, maybe twice: the link still works.
	for range 2 {
		if p := b.get(path); p.status != 200 || !strings.Contains(p.body, "Download the CSV") {
			t.Fatalf("page: %d %s", p.status, p.body)
		}
	}
	if p := b.post(path, url.Values{"csrf": {"forged"}}); p.status != 403 {
		t.Fatalf("forged form: %d", p.status)
	}
	b.get(path)
	p := b.post(path, nil)
	if p.status != 200 || p.header.Get("Content-Type") != "text/csv; charset=utf-8" ||
		!strings.HasPrefix(p.header.Get("Content-Disposition"), `attachment; filename=members-`) ||
		!strings.HasPrefix(p.body, "email,name,role,status,workspaces,created\n"+admin+",") {
		t.Fatalf("download: %d %v\n%s", p.status, p.header, p.body)
	}
	if p.header.Get("Cache-Control") == "" {
		t.Errorf("no Cache-Control on the download")
	}
	if !s.audited("members.export", "") {
		t.Errorf("export not audited")
	}
	b.get(path)
	if p := b.post(path, nil); p.status != 404 || !strings.Contains(p.body, "This export link is no longer valid") {
		t.Fatalf("second download: %d %s", p.status, p.body)
	}
}
