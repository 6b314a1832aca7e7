package main

import (
	"context"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/usher-chat/usher/storage/redistest"
)

// A start migrates what older versions stored under capitalized spellings,
// and refuses to run when one person is stored twice (issue 12, item 3).
func TestStartMigratesEmailCase(t *testing.T) {
	srv := redistest.Shared(t)
	rdb := srv.Client(t)
	ctx := context.Background()
	legacyAdmin := func(orgID, email string) {
		p := "usher:{" + orgID + "}:"
		rdb.HSet(ctx, p+"user:"+email, "email", email, "role", "admin", "status", "active", "ws", "", "ver", "1")
		rdb.ZAdd(ctx, p+"users", redis.Z{Member: email})
		rdb.SAdd(ctx, p+"admins", email)
	}
	legacyAdmin("migstart", "Root@example.com")
	out, err := runCmd(t, map[string]string{"REDIS_URL": srv.URL(), "USHER_ORG": "migstart"}, "admin", "add", "ROOT@example.com")
	if err != nil || !strings.Contains(out, "is an active admin") {
		t.Fatalf("admin add over a migrated Root@example.com: %v\n%s", err, out)
	}
	if n, _ := rdb.Exists(ctx, "usher:{migstart}:user:root@example.com").Result(); n != 1 {
		t.Fatal("Root@example.com was not moved to root@example.com")
	}

	legacyAdmin("migtwins", "Root@example.com")
	legacyAdmin("migtwins", "root@example.com")
	out, err = runCmd(t, map[string]string{"REDIS_URL": srv.URL(), "USHER_ORG": "migtwins"}, "admin", "add", "root@example.com")
	if err == nil || !strings.Contains(err.Error(), "usher:{migtwins}:user:Root@example.com") || !strings.Contains(err.Error(), "stored twice") {
		t.Fatalf("start over twins: %v\n%s", err, out)
	}
	t.Logf("the refusal at start: %v", err)
}
