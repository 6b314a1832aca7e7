package handlers_test

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/usher-chat/usher/handlers"
	"github.com/usher-chat/usher/handlers/org"
	"github.com/usher-chat/usher/handlers/secret"
)

func (e *env) tokenWorks(token string) bool {
	_, _, err := e.svc.InvitationByToken(context.Background(), token)
	return err == nil
}

func TestTokenIsSingleUse(t *testing.T) {
	e := newEnv(t)
	id, token := e.invite(boss, "bob@example.com")
	if !e.tokenWorks(token) {
		t.Fatal("fresh token does not open the invitation")
	}
	if !e.tokenWorks(token) {
		t.Fatal("opening the link consumed it; only accepting may")
	}
	if _, err := e.svc.AcceptWithToken(context.Background(), token, "Bob", "a long enough password"); err != nil {
		t.Fatalf("accept with token: %v", err)
	}
	if e.tokenWorks(token) {
		t.Fatal("token still works after accept")
	}
	if _, err := e.svc.AcceptWithToken(context.Background(), token, "Bob", "a long enough password"); org.ErrorCode(err) != org.CodeNotFound {
		t.Fatalf("second accept with the same token: %v, want not found", err)
	}
	if r := e.run("bob@example.com", "accept "+id); r.Code != org.CodeConflict || !strings.Contains(r.Text, "already accepted") {
		t.Fatalf("chat accept after web accept: %s %s", r.Code, r.Text)
	}
	u := e.user("bob@example.com")
	if u.Name != "Bob" || !secret.CheckPassword(u.PasswordHash, "a long enough password") || u.MustChangePassword {
		t.Fatalf("web-accepted user: %+v", u)
	}
	if n, _ := e.rdb.Exists(context.Background(), "usher:{"+e.org+"}:tok:"+secret.Token(token).Hash()).Result(); n != 0 {
		t.Fatal("token index key survives acceptance")
	}
}

func TestTokenExpires(t *testing.T) {
	e := newEnv(t)
	id, token := e.invite(boss, "carol@example.com")
	e.clock.Advance(7*24*time.Hour - time.Minute)
	if !e.tokenWorks(token) {
		t.Fatal("token died before expiry")
	}
	e.clock.Advance(2 * time.Minute)
	if e.tokenWorks(token) {
		t.Fatal("token works after expiry")
	}
	r := e.run("carol@example.com", "accept "+id)
	if r.Code != org.CodeConflict || !strings.Contains(r.Text, "expired") {
		t.Fatalf("accept after expiry: %s %s", r.Code, r.Text)
	}
	// The late click is what expired it, so the inviter hears it from here.
	if len(r.Deliveries) != 1 || r.Deliveries[0].To != boss || !strings.Contains(r.Deliveries[0].Message.Text, "expired") {
		t.Fatalf("inviter not told of the expiry: %+v", r.Deliveries)
	}
	if inv := e.invitation(id); inv.Status != org.InvitationExpired {
		t.Fatalf("status %s, want expired", inv.Status)
	}
	if n, _ := e.rdb.Exists(context.Background(), "usher:{"+e.org+"}:tok:"+secret.Token(token).Hash()).Result(); n != 0 {
		t.Fatal("token index key survives expiry")
	}
}

func TestTokenDiesOnRevokeAndRotation(t *testing.T) {
	e := newEnv(t)
	_, token := e.invite(boss, "dan@example.com")
	e.ok(boss, "revoke dan@example.com --confirm")
	if e.tokenWorks(token) {
		t.Fatal("token works after revoke")
	}

	id, old := e.invite(boss, "erin@example.com")
	r := e.ok(boss, "link erin@example.com")
	m := linkPattern.FindStringSubmatch(r.Text)
	if m == nil {
		t.Fatalf("no link in %q", r.Text)
	}
	fresh := m[1]
	if fresh == old || e.tokenWorks(old) || !e.tokenWorks(fresh) {
		t.Fatalf("show-link rotation: old works=%v, new works=%v", e.tokenWorks(old), e.tokenWorks(fresh))
	}
	r = e.ok(boss, "resend "+id)
	resent := linkPattern.FindStringSubmatch(r.Deliveries[0].Message.Footer)[1]
	if e.tokenWorks(fresh) || !e.tokenWorks(resent) {
		t.Fatal("resend did not rotate the link")
	}
}

// TestNoSecretInRedis issues tokens (created, rotated, resent, accepted) and a
// temporary password, then reads every key and value of the organization and
// finds none of them in clear.
func TestNoSecretInRedis(t *testing.T) {
	e := newEnv(t)
	var secrets []string
	_, t1 := e.invite(boss, "a@example.com")
	id2, t2 := e.invite(boss, "b@example.com")
	secrets = append(secrets, t1, t2)
	r := e.ok(boss, "link "+id2)
	secrets = append(secrets, linkPattern.FindStringSubmatch(r.Text)[1])
	r = e.ok(boss, "resend "+id2)
	t3 := linkPattern.FindStringSubmatch(r.Deliveries[0].Message.Footer)[1]
	secrets = append(secrets, t3)
	if _, err := e.svc.AcceptWithToken(context.Background(), t3, "B", "another long password"); err != nil {
		t.Fatal(err)
	}
	r = e.ok(boss, "reset-password b@example.com --confirm")
	var password string
	for _, d := range r.Deliveries {
		if d.Kind == handlers.DeliverPassword {
			lines := strings.Split(d.Message.Text, "\n")
			password = lines[1]
		}
	}
	if len(password) != 23 {
		t.Fatalf("no temporary password delivered: %+v", r.Deliveries)
	}
	secrets = append(secrets, password, "another long password")

	ctx := context.Background()
	var dump strings.Builder
	iter := e.rdb.Scan(ctx, 0, "usher:{"+e.org+"}:*", 100).Iterator()
	keys := 0
	for iter.Next(ctx) {
		k := iter.Val()
		keys++
		dump.WriteString(k + "\n")
		switch typ := e.rdb.Type(ctx, k).Val(); typ {
		case "string":
			dump.WriteString(e.rdb.Get(ctx, k).Val())
		case "hash":
			for f, v := range e.rdb.HGetAll(ctx, k).Val() {
				dump.WriteString(f + "=" + v + "\n")
			}
		case "zset":
			dump.WriteString(strings.Join(e.rdb.ZRange(ctx, k, 0, -1).Val(), "\n"))
		case "set":
			dump.WriteString(strings.Join(e.rdb.SMembers(ctx, k).Val(), "\n"))
		case "stream":
			for _, m := range e.rdb.XRange(ctx, k, "-", "+").Val() {
				for f, v := range m.Values {
					dump.WriteString(f + "=" + v.(string) + "\n")
				}
			}
		default:
			t.Fatalf("key %s has unexpected type %s", k, typ)
		}
		dump.WriteString("\n")
	}
	if err := iter.Err(); err != nil {
		t.Fatal(err)
	}
	all := dump.String()
	for _, s := range secrets {
		if strings.Contains(all, s) {
			t.Errorf("secret %.6s... found in clear in Redis", s)
		}
	}
	// The scan must see what is there: the live token's hash and an argon2id hash.
	_, t4 := e.invite(boss, "c@example.com")
	sum, _ := hex.DecodeString(secret.Token(t4).Hash()) // stored base64url (storage/codec.go)
	if ok, _ := e.rdb.HExists(ctx, "usher:{"+e.org+"}:tokens", base64.RawURLEncoding.EncodeToString(sum)).Result(); !ok {
		t.Fatal("token hash index missing: the scan proves nothing")
	}
	if !strings.Contains(all, "$argon2id$") || keys < 10 {
		t.Fatalf("scan read %d keys without a password hash: it proves nothing", keys)
	}
}
