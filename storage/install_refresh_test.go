package storage_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
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

// TestSlackInstallsRefreshRefused: a refresh token Slack refuses for good
// marks the installation broken once across concurrent uses (one of them
// gets ErrBroken, to tell the admins), keeps no token, and takes it out of
// the sweep's index; a reinstall mends it.
func TestSlackInstallsRefreshRefused(t *testing.T) {
	ctx := context.Background()
	srv := redistest.Start(t)
	key, _ := storage.NewSealKey([]byte("refresh test deployment secret"))
	a, b := storage.NewSlackInstalls(srv.Client(t), key), storage.NewSlackInstalls(srv.Client(t), key)
	now := time.Now()
	rotating := storage.SlackInstallation{Team: "TDEAD", BotUserID: "UB", BotToken: "xoxe.xoxb-d", RefreshToken: "xoxe-1-d", Expires: now.Add(time.Hour)}
	if err := a.Save(ctx, rotating); err != nil {
		t.Fatal(err)
	}
	if err := a.Save(ctx, storage.SlackInstallation{Team: "TLATER", BotUserID: "UB", BotToken: "xoxe.xoxb-l", RefreshToken: "xoxe-1-l", Expires: now.Add(10 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if err := a.Save(ctx, storage.SlackInstallation{Team: "TFIXED", BotUserID: "UB", BotToken: "xoxb-fixed"}); err != nil {
		t.Fatal(err)
	}
	due, err := a.Expiring(ctx, now.Add(2*time.Hour), 10)
	if err != nil || len(due) != 1 || due[0] != [2]string{"", "TDEAD"} {
		t.Fatalf("expiring within 2 hours: %v %v", due, err)
	}
	var calls, broken atomic.Int32
	refuse := func(ctx context.Context, rt string) (storage.Refreshed, error) {
		calls.Add(1)
		time.Sleep(20 * time.Millisecond)
		return storage.Refreshed{}, fmt.Errorf("oauth.v2.access: %w", storage.ErrRefreshRevoked)
	}
	var wg sync.WaitGroup
	for i := range 10 {
		wg.Go(func() {
			s := a
			if i%2 == 1 {
				s = b
			}
			inst, ok, err := s.Fresh(ctx, "", "TDEAD", 2*time.Hour, time.Now, refuse)
			switch {
			case errors.Is(err, storage.ErrBroken):
				broken.Add(1)
			case err != nil:
				t.Errorf("use %d: %v", i, err)
			}
			if !ok || inst.Broken == "" || inst.BotToken != "" {
				t.Errorf("use %d: ok %v broken %q token %q", i, ok, inst.Broken, inst.BotToken)
			}
		})
	}
	wg.Wait()
	if calls.Load() != 1 || broken.Load() != 1 {
		t.Fatalf("%d refresh calls, %d told it broke; want 1 and 1", calls.Load(), broken.Load())
	}
	raw, _ := srv.Client(t).Get(ctx, "usher:slackinstall:|TDEAD").Result()
	if strings.Contains(raw, "xoxe") {
		t.Fatalf("a broken record keeps a token: %s", raw)
	}
	if due, _ := a.Expiring(ctx, now.Add(24*time.Hour), 10); len(due) != 1 || due[0][1] != "TLATER" {
		t.Fatalf("index after the break: %v", due)
	}
	// A reinstall replaces the broken record.
	rotating.BotToken, rotating.RefreshToken, rotating.Expires = "xoxe.xoxb-d2", "xoxe-1-d2", now.Add(12*time.Hour)
	if err := b.Save(ctx, rotating); err != nil {
		t.Fatal(err)
	}
	if inst, ok, err := a.Find(ctx, "", "TDEAD"); err != nil || !ok || inst.Broken != "" || inst.BotToken != "xoxe.xoxb-d2" {
		t.Fatalf("after reinstall: %+v %v %v", inst, ok, err)
	}
	// An uninstall leaves nothing for the sweep.
	if _, err := a.Remove(ctx, "", "TLATER"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.RevokeBots(ctx, "", "TDEAD", []string{"UB"}); err != nil {
		t.Fatal(err)
	}
	if due, _ := a.Expiring(ctx, now.Add(48*time.Hour), 10); len(due) != 0 {
		t.Fatalf("index after uninstalls: %v", due)
	}
}
