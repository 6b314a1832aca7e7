package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/usher-chat/usher/handlers"
	"github.com/usher-chat/usher/handlers/org"
	"github.com/usher-chat/usher/storage"
	"github.com/usher-chat/usher/storage/redistest"
)

// TestSentinelFailoverUnderLoad runs usher on a Sentinel-watched master with
// two replicas, configured from REDIS_SENTINEL_ADDRS as `usher serve` is,
// with REDIS_MIN_REPLICAS=1 (every change waits until a replica holds it).
// Eight goroutines send invitations; the replicas fall behind (frozen) and
// the master is SIGKILLed mid-load. usher keeps answering: a command either
// succeeds or gets the clear "try again" answer (org.CodeUnavailable), and
// those only inside the failure window; afterwards every invitation that was
// answered with success exists on the new master.
func TestSentinelFailoverUnderLoad(t *testing.T) {
	acked, missing := failoverUnderLoad(t, "1")
	if missing > 0 {
		t.Fatalf("%d of %d acknowledged invitations are missing after the failover", missing, acked)
	}
}

// TestSentinelFailoverWithoutWaitLosesWrites is the control: the same run
// without REDIS_MIN_REPLICAS loses invitations usher had acknowledged, so
// the test above would catch a Commit that stopped waiting.
func TestSentinelFailoverWithoutWaitLosesWrites(t *testing.T) {
	acked, missing := failoverUnderLoad(t, "0")
	if missing == 0 {
		t.Fatalf("no acknowledged invitation of %d was lost without WAIT: the failover test has no teeth", acked)
	}
	t.Logf("without WAIT, %d of %d acknowledged invitations were lost", missing, acked)
}

// failoverUnderLoad: the replicas freeze (SIGSTOP; the master keeps
// accepting writes it cannot replicate: 16 MB of other writes first fill the
// sockets between them), then the master is SIGKILLed and the replicas thaw;
// Sentinel promotes one. It returns how many invitations were acknowledged
// and how many of those are missing on the new master.
func failoverUnderLoad(t *testing.T, minReplicas string) (acked, missing int) {
	st := redistest.StartSentinel(t, 2)
	ctx := context.Background()
	const boss = "boss@example.com"
	cfg, err := loadConfig(func(k string) string {
		return map[string]string{
			"REDIS_SENTINEL_ADDRS": st.Addr(), "REDIS_MASTER_NAME": st.MasterName,
			"REDIS_MIN_REPLICAS": minReplicas, "REDIS_WAIT_TIMEOUT": "500ms",
			"USHER_ORG": prodOrg("s"), "USHER_ADMINS": boss,
		}[k]
	})
	if err != nil {
		t.Fatal(err)
	}
	rdb, closeRedis, err := connect(ctx, cfg, false)
	if err != nil {
		t.Fatal(err)
	}
	defer closeRedis()
	svc, err := newService(ctx, env{}, cfg, rdb, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	if err != nil {
		t.Fatal(err)
	}

	type result struct {
		at   time.Time
		id   string // set on success
		code org.Code
		text string
	}
	var (
		mu      sync.Mutex
		results []result
		n       atomic.Int64
		stop    = make(chan struct{})
		wg      sync.WaitGroup
	)
	for w := 0; w < 8; w++ {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				email := fmt.Sprintf("load%d@example.com", n.Add(1))
				r := svc.Handle(ctx, handlers.Request{Actor: org.Identity{Platform: "test", UserID: "U1", Email: boss}, Text: "invite " + email + " --force"})
				res := result{at: time.Now(), code: r.Code, text: r.Text}
				for _, d := range r.Deliveries {
					if d.Kind == handlers.DeliverInvitation && d.To == email {
						res.id = d.InvitationID
					}
				}
				mu.Lock()
				results = append(results, res)
				mu.Unlock()
				if r.Code != "" {
					time.Sleep(50 * time.Millisecond) // a person would not retry faster
				}
			}
		})
	}
	successes := func(after time.Time) int {
		mu.Lock()
		defer mu.Unlock()
		k := 0
		for _, r := range results {
			if r.code == "" && r.at.After(after) {
				k++
			}
		}
		return k
	}
	waitFor := func(what string, d time.Duration, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(d)
		for !cond() {
			if time.Now().After(deadline) {
				close(stop)
				wg.Wait()
				t.Fatalf("%s: not within %v\n--- sentinel log ---\n%s", what, d, st.Log())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	start := time.Now()
	waitFor("invitations before the failover", 20*time.Second, func() bool { return successes(start) >= 100 })
	oldMaster := st.Master.Addr()
	killed := time.Now() // the failure window starts with the freeze
	for _, r := range st.Replicas {
		r.Freeze()
		defer r.Thaw()
	}
	filler := st.Master.Client(t)
	big := strings.Repeat("x", 1<<20)
	for i := range 16 {
		if err := filler.Set(ctx, fmt.Sprintf("filler:%d", i), big, 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	frozen := time.Now()
	time.Sleep(700 * time.Millisecond)
	st.Master.Kill()
	for _, r := range st.Replicas {
		r.Thaw()
	}
	var promoted time.Time
	waitFor("sentinel promotes a replica", 30*time.Second, func() bool {
		a, err := st.MasterAddr(ctx)
		if err == nil && a != oldMaster {
			promoted = time.Now()
			return true
		}
		return false
	})
	// usher recovers by itself: successes again after the switch.
	waitFor("invitations after the failover", 30*time.Second, func() bool { return successes(promoted) >= 100 })
	close(stop)
	wg.Wait()

	var ok, unavailable, lastErr, ackedWhileFrozen int
	var lastErrAt time.Time
	for _, r := range results {
		switch r.code {
		case "":
			ok++
			if r.at.After(frozen) && r.at.Before(promoted) {
				ackedWhileFrozen++
			}
			if r.id == "" {
				t.Fatalf("a successful invite delivered no invitation")
			}
		case org.CodeUnavailable:
			unavailable++
			if r.at.Before(killed) {
				t.Errorf("unavailable at %v, before the master was killed", r.at.Sub(start))
			}
			if r.at.After(lastErrAt) {
				lastErrAt = r.at
			}
		default:
			lastErr++
			t.Errorf("refused with %s (only %s is allowed, during the failover): %s", r.code, org.CodeUnavailable, r.text)
		}
	}
	// The window closes once the client has switched: a little after the
	// sentinel announced the new master (commands then in flight could
	// still time out on the dead one).
	if grace := promoted.Add(3 * time.Second); lastErrAt.After(grace) {
		t.Errorf("unavailable answers until %v after the kill, but the new master was known %v after it", lastErrAt.Sub(killed), promoted.Sub(killed))
	}
	t.Logf("%d invitations acknowledged (%d while the replicas were frozen), %d told to try again (failover window %v, promotion after %v)",
		ok, ackedWhileFrozen, unavailable, lastErrAt.Sub(killed).Round(time.Millisecond), promoted.Sub(killed).Round(time.Millisecond))

	// Every acknowledged invitation is on the new master.
	s, err := storage.New(rdb, cfg.org)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range results {
		if r.code != "" {
			continue
		}
		snap, err := s.Load(ctx, org.Query{Invitation: r.id})
		if err != nil {
			t.Fatal(err)
		}
		if snap.Invitation == nil || snap.Invitation.Status != org.InvitationPending {
			missing++
		}
	}
	return ok, missing
}
