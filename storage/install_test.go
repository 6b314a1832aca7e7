package storage_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/usher-chat/usher/storage"
	"github.com/usher-chat/usher/storage/redistest"
)

func TestSlackInstallsSealedAndRevoked(t *testing.T) {
	ctx := context.Background()
	rdb := redistest.Shared(t).Client(t)
	key, err := storage.NewSealKey([]byte("a deployment secret of some length"))
	if err != nil {
		t.Fatal(err)
	}
	s := storage.NewSlackInstalls(rdb, key)
	in := storage.SlackInstallation{Team: "TINST1", BotUserID: "UBOT1", AppID: "A1", Scopes: []string{"chat:write"}, Installer: "UINST",
		Installed: time.Unix(1700000000, 0).UTC(), BotToken: "xoxb-install-secret-bot", RefreshToken: "xoxe-1-install-secret-refresh", Expires: time.Unix(1700043200, 0).UTC()}
	if err := s.Save(ctx, in); err != nil {
		t.Fatal(err)
	}
	got, ok, err := s.Find(ctx, "E1", "TINST1")
	if !ok || err != nil || got.BotToken != in.BotToken || got.RefreshToken != in.RefreshToken || got.BotUserID != "UBOT1" || !got.Expires.Equal(in.Expires) {
		t.Fatalf("find: %+v %v %v", got, ok, err)
	}
	// No token in the clear anywhere in Redis.
	for _, k := range rdb.Keys(ctx, "*").Val() {
		v, _ := rdb.Dump(ctx, k).Bytes()
		if bytes.Contains(v, []byte("install-secret")) {
			t.Fatalf("key %s holds a token in the clear", k)
		}
	}
	// A record copied to another workspace's key does not open.
	raw := rdb.Get(ctx, "usher:slackinstall:|TINST1").Val()
	rdb.Set(ctx, "usher:slackinstall:|TOTHER", raw, 0)
	if _, _, err := s.Find(ctx, "", "TOTHER"); err == nil {
		t.Fatal("a copied record opened under another workspace")
	}
	// An org-wide install serves the enterprise's workspaces.
	if err := s.Save(ctx, storage.SlackInstallation{Enterprise: "EGRID", BotUserID: "UBOTE", BotToken: "xoxb-grid"}); err != nil {
		t.Fatal(err)
	}
	if got, ok, _ := s.Find(ctx, "EGRID", "TANY"); !ok || got.BotToken != "xoxb-grid" {
		t.Fatalf("enterprise find: %+v %v", got, ok)
	}
	// tokens_revoked of another bot leaves it; of its bot drops it; twice is fine.
	if gone, err := s.RevokeBots(ctx, "", "TINST1", []string{"UOTHER"}); gone || err != nil {
		t.Fatalf("revoke other: %v %v", gone, err)
	}
	for range 2 {
		if _, err := s.RevokeBots(ctx, "", "TINST1", []string{"UBOT1"}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Remove(ctx, "", "TINST1"); err != nil {
			t.Fatal(err)
		}
	}
	if _, ok, err := s.Find(ctx, "", "TINST1"); ok || err != nil {
		t.Fatalf("after revoke: %v %v", ok, err)
	}
}

func TestSlackOAuthStateOnce(t *testing.T) {
	ctx := context.Background()
	rdb := redistest.Shared(t).Client(t)
	s := storage.NewSlackInstalls(rdb, nil)
	if err := s.PutState(ctx, "state-abc"); err != nil {
		t.Fatal(err)
	}
	if rdb.Exists(ctx, "usher:slackoauth:state-abc").Val() != 0 {
		t.Fatal("state stored in the clear")
	}
	keys := rdb.Keys(ctx, "usher:slackoauth:*").Val()
	if len(keys) != 1 {
		t.Fatalf("keys %v", keys)
	}
	if ttl := rdb.TTL(ctx, keys[0]).Val(); ttl <= 9*time.Minute || ttl > storage.StateTTL {
		t.Fatalf("ttl %v", ttl)
	}
	first, err1 := s.TakeState(ctx, "state-abc")
	again, err2 := s.TakeState(ctx, "state-abc")
	unknown, err3 := s.TakeState(ctx, "never-put")
	if !first || again || unknown || err1 != nil || err2 != nil || err3 != nil {
		t.Fatalf("take: %v %v %v %v %v %v", first, again, unknown, err1, err2, err3)
	}
}

func TestSlackInstallsTeamAccess(t *testing.T) {
	ctx := context.Background()
	s := storage.NewSlackInstalls(redistest.Shared(t).Client(t), nil)
	if err := s.Save(ctx, storage.SlackInstallation{Enterprise: "EACC", BotUserID: "UB", BotToken: "xoxb-e"}); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := s.RevokeTeams(ctx, "EACC", []string{"T1", "T2"}); err != nil {
			t.Fatal(err)
		}
	}
	if _, ok, _ := s.Find(ctx, "EACC", "T1"); ok {
		t.Fatal("revoked workspace still served")
	}
	if _, ok, _ := s.Find(ctx, "EACC", "T3"); !ok {
		t.Fatal("other workspace lost")
	}
	if err := s.GrantTeams(ctx, "EACC", []string{"T1"}); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := s.Find(ctx, "EACC", "T1"); !ok {
		t.Fatal("granted workspace not served")
	}
	if _, ok, _ := s.Find(ctx, "EACC", "T2"); ok {
		t.Fatal("T2 served")
	}
}
