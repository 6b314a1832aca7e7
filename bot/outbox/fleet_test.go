package outbox_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/usher-chat/usher/bot/outbox"
	"github.com/usher-chat/usher/bot/outbox/redisqueue"
	"github.com/usher-chat/usher/handlers/org"
	"github.com/usher-chat/usher/storage"
	"github.com/usher-chat/usher/storage/redistest"
)

func TestMain(m *testing.M) { redistest.Main(m) }

// sent records every send, in order, as "org/payload".
type sent struct {
	mu  sync.Mutex
	all []string
	ch  chan string
}

func (s *sent) sender(id org.ID) outbox.Sender {
	return func(_ context.Context, j outbox.Job) error {
		m := string(id) + "/" + string(j.Payload)
		s.mu.Lock()
		s.all = append(s.all, m)
		s.mu.Unlock()
		if s.ch != nil {
			s.ch <- m
		}
		return nil
	}
}

func (s *sent) list() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.all...)
}

// fleetOn is a fleet over rdb's organizations, each outbox ringing f.
func fleetOn(t *testing.T, rdb redis.UniversalClient, f *storage.Fleet, s *sent, consumer string) *outbox.Fleet {
	t.Helper()
	fl := &outbox.Fleet{
		Index: f.Index(storage.FleetOutbox),
		Open: func(ctx context.Context, id org.ID) (outbox.Org, bool, error) {
			ob, err := storage.NewOutbox(rdb, id)
			if err != nil {
				return outbox.Org{}, false, err
			}
			ob.UseFleet(f)
			return outbox.Org{Queue: redisqueue.New(ob), Senders: map[string]outbox.Sender{"slack": s.sender(id)}}, true, nil
		},
		Worker: outbox.Worker{Consumer: consumer, Pace: time.Millisecond, Batch: 16},
	}
	if err := fl.Init(); err != nil {
		t.Fatal(err)
	}
	return fl
}

func add(t *testing.T, rdb redis.UniversalClient, f *storage.Fleet, id org.ID, payloads ...string) {
	t.Helper()
	ob, err := storage.NewOutbox(rdb, id)
	if err != nil {
		t.Fatal(err)
	}
	ob.UseFleet(f)
	for i, p := range payloads {
		// One channel each: this test is about organizations taking turns, not pacing.
		if _, err := ob.Add(context.Background(), storage.Job{Platform: "slack", Channel: fmt.Sprintf("C%d", i), Payload: []byte(p)}); err != nil {
			t.Fatal(err)
		}
	}
}

// TestFleetTakesTurns: an organization with 1,000 jobs queued first does not
// starve two others' single job: each turn is one batch per organization,
// so theirs go within the first two turns' worth of sends, and every job of
// all three goes exactly once, with no consumer group made beforehand.
func TestFleetTakesTurns(t *testing.T) {
	rdb := redistest.Start(t).Client(t)
	ctx := context.Background()
	f := storage.NewFleet(rdb)
	if err := f.LoadScripts(ctx); err != nil {
		t.Fatal(err)
	}
	big := make([]string, 1000)
	for i := range big {
		big[i] = fmt.Sprintf("j%d", i)
	}
	add(t, rdb, f, "big", big...)
	add(t, rdb, f, "small1", "only")
	add(t, rdb, f, "small2", "only")
	s := &sent{}
	fl := fleetOn(t, rdb, f, s, "w1")
	for turn := 0; len(s.list()) < 1002; turn++ {
		if turn > 500 {
			t.Fatalf("after %d turns only %d of 1002 sent", turn, len(s.list()))
		}
		if _, err := fl.Turn(ctx); err != nil {
			t.Fatal(err)
		}
	}
	all := s.list()
	pos := map[string]int{}
	for i, m := range all {
		if _, dup := pos[m]; dup {
			t.Fatalf("%s sent twice", m)
		}
		pos[m] = i
	}
	// The first turn of each makes its consumer group (first use) and sends
	// nothing; the next sends a batch of 16 from each. So the small ones'
	// jobs go by the 2nd turn's 16+1+1 sends, never after big's 1,000.
	for _, m := range []string{"small1/only", "small2/only"} {
		if p, ok := pos[m]; !ok || p > 2*16+2 {
			t.Errorf("%s sent at position %d of %d: starved by big", m, p, len(all))
		}
	}
	if n, _ := f.Len(ctx, storage.FleetOutbox); n != 0 {
		t.Errorf("%d organizations left in the index with every job sent", n)
	}
}

// TestFleetWakesOnItsOwnRing: a job queued in this process goes within
// milliseconds although the poll is long: the ring wakes the loop.
func TestFleetWakesOnItsOwnRing(t *testing.T) {
	rdb := redistest.Start(t).Client(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f := storage.NewFleet(rdb)
	if err := f.LoadScripts(ctx); err != nil {
		t.Fatal(err)
	}
	s := &sent{ch: make(chan string, 10)}
	fl := fleetOn(t, rdb, f, s, "w1")
	fl.Poll = time.Hour
	f.Notify = func(kind storage.FleetKind, _ org.ID) {
		if kind == storage.FleetOutbox {
			fl.Wake()
		}
	}
	// The group exists already (an organization that sent before).
	ob, _ := storage.NewOutbox(rdb, "acme")
	if err := ob.Setup(ctx); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { fl.Run(ctx); close(done) }()
	time.Sleep(50 * time.Millisecond) // the first (empty) tick
	start := time.Now()
	add(t, rdb, f, "acme", "hello")
	select {
	case m := <-s.ch:
		if d := time.Since(start); d > 200*time.Millisecond {
			t.Errorf("%s sent %v after it was queued", m, d)
		}
		t.Logf("sent %v after it was queued", time.Since(start))
	case <-time.After(5 * time.Second):
		t.Fatal("not sent: the ring did not wake the fleet")
	}
	cancel()
	<-done
}
