package handlers_test

import (
	"context"
	"encoding/csv"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/usher-chat/usher/handlers"
	"github.com/usher-chat/usher/handlers/handlerstest"
	"github.com/usher-chat/usher/handlers/org"
	"github.com/usher-chat/usher/storage/redistest"
)

var exportLink = regexp.MustCompile(`https://usher\.test/export/([A-Za-z0-9_-]{43})`)

func exportToken(t *testing.T, e *env, who, cmd string) string {
	t.Helper()
	r := e.ok(who, cmd)
	m := exportLink.FindStringSubmatch(r.Text)
	if m == nil {
		t.Fatalf("%s: no export link in %q", cmd, r.Text)
	}
	return m[1]
}

func readCSV(t *testing.T, f *handlers.File) [][]string {
	t.Helper()
	recs, err := csv.NewReader(strings.NewReader(string(f.Data))).ReadAll()
	if err != nil {
		t.Fatalf("csv: %v\n%s", err, f.Data)
	}
	return recs
}

func TestExportMembersLink(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	e.ok(boss, "workspace create ml")
	// A name a spreadsheet would run as a formula.
	_, tok := e.invite(boss, "evil@example.com", "--workspace", "ml")
	if _, err := e.svc.AcceptWithToken(ctx, tok, `=HYPERLINK("https://evil","x")`, ""); err != nil {
		t.Fatal(err)
	}
	e.join("plain@example.com", org.RoleViewer)

	token := exportToken(t, e, boss, "members --export")
	keys, err := e.rdb.Keys(ctx, "*"+e.org+"*export:*").Result()
	if err != nil || len(keys) != 1 {
		t.Fatalf("export keys %v %v", keys, err)
	}
	if !strings.Contains(keys[0], "{") || strings.Contains(keys[0], token) {
		t.Errorf("key %q: want the org's hash tag and no secret", keys[0])
	}
	if ttl := e.rdb.TTL(ctx, keys[0]).Val(); ttl <= 9*time.Minute || ttl > handlers.ExportLifetime {
		t.Errorf("ttl %v, want about %v", ttl, handlers.ExportLifetime)
	}

	f, err := e.svc.Export(ctx, token, "")
	if err != nil {
		t.Fatal(err)
	}
	if f.Type != "text/csv; charset=utf-8" || !strings.HasPrefix(f.Name, "members-") || !strings.HasSuffix(f.Name, ".csv") {
		t.Errorf("file %q %q", f.Name, f.Type)
	}
	recs := readCSV(t, f)
	if strings.Join(recs[0], ",") != "email,name,role,status,workspaces,created" || len(recs) != 4 {
		t.Fatalf("csv %v", recs)
	}
	if recs[1][0] != boss || recs[2][0] != "evil@example.com" || recs[3][0] != "plain@example.com" {
		t.Errorf("rows not by email: %v", recs)
	}
	if recs[2][1] != `'=HYPERLINK("https://evil","x")` || recs[2][4] != "ml:editor" {
		t.Errorf("formula not defused: %q", recs[2])
	}

	// Single use.
	if _, err := e.svc.Export(ctx, token, ""); !errors.Is(err, handlers.ErrInvalidExport) {
		t.Errorf("second download: %v", err)
	}
	// Audited.
	audit := e.ok(boss, "audit --search members.export")
	if len(audit.Items) != 1 || !strings.Contains(audit.Items[0].Text, "members.export") || !strings.Contains(audit.Items[0].Text, "3 rows as CSV via web") {
		t.Errorf("audit %v", audit.Items)
	}

	// Someone else signed in on the web gets nothing, and the link is spent.
	token = exportToken(t, e, boss, "members --export")
	if _, err := e.svc.Export(ctx, token, "plain@example.com"); !errors.Is(err, handlers.ErrInvalidExport) {
		t.Errorf("wrong person: %v", err)
	}
	if _, err := e.svc.Export(ctx, token, boss); !errors.Is(err, handlers.ErrInvalidExport) {
		t.Errorf("after a wrong person: %v", err)
	}
	// The admin themselves, signed in (any spelling), may.
	token = exportToken(t, e, boss, "members --export")
	if _, err := e.svc.Export(ctx, token, "Boss@Example.com"); err != nil {
		t.Errorf("signed-in admin: %v", err)
	}
	// Made up, malformed, expired (the key is gone) links.
	for _, bad := range []string{"", "x", strings.Repeat("A", 43), "abc.def"} {
		if _, err := e.svc.Export(ctx, bad, ""); !errors.Is(err, handlers.ErrInvalidExport) {
			t.Errorf("%q: %v", bad, err)
		}
	}
	token = exportToken(t, e, boss, "members --export")
	if err := e.rdb.Del(ctx, keys[0][:strings.LastIndex(keys[0], ":")+1]+"*").Err(); err != nil {
		t.Fatal(err)
	}
	left, _ := e.rdb.Keys(ctx, "*"+e.org+"*export:*").Result()
	for _, k := range left {
		e.rdb.Del(ctx, k) // what Redis does at the TTL
	}
	if _, err := e.svc.Export(ctx, token, ""); !errors.Is(err, handlers.ErrInvalidExport) {
		t.Errorf("expired: %v", err)
	}
}

func TestExportRefusedToFormerAdmin(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	const other = "other@example.com"
	e.join(other, org.RoleAdmin)
	token := exportToken(t, e, other, "audit --export")
	e.ok(boss, "deactivate "+other+" --confirm")
	if _, err := e.svc.Export(ctx, token, ""); org.ErrorCode(err) != org.CodeDeactivated {
		t.Errorf("deactivated admin: %v", err)
	}
	e.ok(boss, "activate "+other+" --confirm")
	token = exportToken(t, e, other, "audit --export")
	e.ok(boss, "role "+other+" member --confirm")
	if _, err := e.svc.Export(ctx, token, ""); org.ErrorCode(err) != org.CodeForbidden {
		t.Errorf("demoted admin: %v", err)
	}
	e.ok(boss, "role "+other+" admin --confirm")
	token = exportToken(t, e, other, "audit --export")
	f, err := e.svc.Export(ctx, token, "")
	if err != nil {
		t.Fatal(err)
	}
	recs := readCSV(t, f)
	if strings.Join(recs[0], ",") != "at,actor,via,action,target,before,after,detail" || len(recs) < 5 || recs[1][3] != "user.role" {
		t.Errorf("audit csv %v", recs[:2])
	}
	if r := e.run("nobody@example.com", "audit --export"); r.Code != org.CodeNotMember {
		t.Errorf("outsider: %s", r.Code)
	}
	if r := e.run(boss, "members --export --page 2"); r.Code != org.CodeInvalid {
		t.Errorf("--export --page: %s %q", r.Code, r.Text)
	}
}

func TestExportWithoutWeb(t *testing.T) {
	o := handlerstest.NewOrg(t, redistest.Shared(t).Client(t), "t", boss, handlers.Config{})
	r := o.Service.Handle(context.Background(), handlers.Request{Actor: org.Identity{Platform: "slack", UserID: "U1", Email: boss}, Text: "members --export"})
	if r.Code != org.CodeConflict || !strings.Contains(r.Text, "USHER_PUBLIC_URL is not set") {
		t.Errorf("%s %q", r.Code, r.Text)
	}
	// The shell gets the file itself.
	r = o.Service.Handle(context.Background(), handlers.Request{Actor: org.Identity{Platform: "shell", UserID: boss, Email: boss}, Text: "members --export"})
	if r.Code != "" || r.File == nil || !strings.HasPrefix(string(r.File.Data), "email,name,role") {
		t.Fatalf("shell export: %s %q %+v", r.Code, r.Text, r.File)
	}
}
