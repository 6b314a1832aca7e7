package storage_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/usher-chat/usher/storage"
	"github.com/usher-chat/usher/storage/redistest"
)

// TestSlackInstallsRefreshOnce: 20 concurrent uses on 3 replicas of a
// token about to expire spend the refresh token exactly once, and all get
// the new token.
func TestSlackInstallsRefreshOnce(t *testing.T) {
	ctx := context.Background()
	srv := redistest.Start(t)
	key, _ := storage.NewSealKey([]byte("refresh test deployment secret"))
	var replicas []*storage.SlackInstalls
	for range 3 {
		replicas = append(replicas, storage.NewSlackInstalls(srv.Client(t), key))
	}
	now := time.Now()
	if err := replicas[0].Save(ctx, storage.SlackInstallation{Team: "TROT", BotUserID: "UB", BotToken: "xoxe.xoxb-old", RefreshToken: "xoxe-1-r1",
		Expires: now.Add(30 * time.Minute)}); err != nil {
		t.Fatal(err)
	}
	var calls atomic.Int32
	refresh := func(ctx context.Context, rt string) (storage.Refreshed, error) {
		n := calls.Add(1)
		if rt != "xoxe-1-r1" {
			return storage.Refreshed{}, fmt.Errorf("invalid_refresh_token (%s)", rt)
		}
		time.Sleep(50 * time.Millisecond) // Slack takes a moment
		return storage.Refreshed{BotToken: fmt.Sprintf("xoxe.xoxb-new%d", n), RefreshToken: "xoxe-1-r2", ExpiresIn: 12 * time.Hour}, nil
	}
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := range 20 {
		wg.Go(func() {
			inst, ok, err := replicas[i%3].Fresh(ctx, "", "TROT", 2*time.Hour, time.Now, refresh)
			if err != nil || !ok || inst.BotToken != "xoxe.xoxb-new1" {
				errs <- fmt.Errorf("use %d: %q %v %v", i, inst.BotToken, ok, err)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := calls.Load(); n != 1 {
		t.Fatalf("%d refresh calls, want 1", n)
	}
	// A fresh token is used as it is.
	if _, _, err := replicas[1].Fresh(ctx, "", "TROT", 2*time.Hour, time.Now, refresh); err != nil || calls.Load() != 1 {
		t.Fatalf("fresh token refreshed again: %v %d", err, calls.Load())
	}
	// An uninstall during a refresh is not undone by it.
	if err := replicas[0].Save(ctx, storage.SlackInstallation{Team: "TGONE", BotUserID: "UB", BotToken: "xoxe.xoxb-g", RefreshToken: "xoxe-1-g", Expires: now}); err != nil {
		t.Fatal(err)
	}
	_, ok, err := replicas[0].Fresh(ctx, "", "TGONE", 2*time.Hour, time.Now, func(ctx context.Context, rt string) (storage.Refreshed, error) {
		replicas[1].Remove(ctx, "", "TGONE")
		return storage.Refreshed{BotToken: "xoxe.xoxb-g2", RefreshToken: "xoxe-1-g2", ExpiresIn: time.Hour}, nil
	})
	if err != nil || ok {
		t.Fatalf("refresh of an uninstalled installation: %v %v", ok, err)
	}
	if _, ok, _ := replicas[2].Find(ctx, "", "TGONE"); ok {
		t.Fatal("a refresh brought an uninstalled installation back")
	}
}
