package redistest

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

func TestPasswordAndKill(t *testing.T) {
	s := Start(t, WithPassword("pw-123"))
	ctx := context.Background()
	if err := s.Client(t).Ping(ctx).Err(); err != nil {
		t.Fatalf("PING with the password: %v", err)
	}
	anon := redis.NewClient(&redis.Options{Addr: s.Addr()})
	defer anon.Close()
	if err := anon.Ping(ctx).Err(); err == nil || !strings.Contains(err.Error(), "NOAUTH") {
		t.Fatalf("PING without the password: %v", err)
	}
	s.Kill()
	if s.Running() {
		t.Fatal("running after Kill")
	}
	s.Restart(t)
	if err := s.Client(t).Ping(ctx).Err(); err != nil {
		t.Fatalf("PING after Restart: %v", err)
	}
}

// TestClusterSpreadsSlots: a 3-master cluster where a multi-key command
// within one hash tag works and across tags is refused with CROSSSLOT.
func TestClusterSpreadsSlots(t *testing.T) {
	c := StartCluster(t, 3)
	ctx := context.Background()
	rdb := c.Client(t)
	if err := rdb.MSet(ctx, "{a}:1", "x", "{a}:2", "y").Err(); err != nil {
		t.Fatalf("same tag: %v", err)
	}
	node := redis.NewClient(&redis.Options{Addr: c.Nodes[0].Addr()})
	defer node.Close()
	err := node.MSet(ctx, "{a}:1", "x", "{b}:2", "y").Err()
	if err == nil || !(strings.Contains(err.Error(), "CROSSSLOT") || strings.Contains(err.Error(), "MOVED")) {
		t.Fatalf("cross tag: %v", err)
	}
	var masters atomic.Int32 // ForEachMaster runs the masters concurrently
	if err := rdb.ForEachMaster(ctx, func(context.Context, *redis.Client) error { masters.Add(1); return nil }); err != nil {
		t.Fatal(err)
	}
	if masters := masters.Load(); masters != 3 {
		t.Fatalf("%d masters", masters)
	}
}

// TestSentinelFailsOver: killing the master makes the sentinel promote the
// replica, and a failover client follows it.
func TestSentinelFailsOver(t *testing.T) {
	st := StartSentinel(t, 1)
	ctx := context.Background()
	rdb := st.Client(t)
	if err := rdb.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	old := st.Master.Addr()
	st.Master.Kill()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if a, err := st.MasterAddr(ctx); err == nil && a == st.Replicas[0].Addr() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no failover from %s\n%s", old, st.Log())
		}
		time.Sleep(50 * time.Millisecond)
	}
	for {
		if err := rdb.Set(ctx, "k2", "v", 0).Err(); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the failover client did not follow the new master")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if v, err := rdb.Get(ctx, "k").Result(); err != nil || v != "v" {
		t.Fatalf("k = %q, %v", v, err)
	}
}
