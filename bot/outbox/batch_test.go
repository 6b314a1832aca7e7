package outbox_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/usher-chat/usher/bot/outbox"
	"github.com/usher-chat/usher/bot/outbox/redisqueue"
	"github.com/usher-chat/usher/storage"
	"github.com/usher-chat/usher/storage/redistest"
)

// TestBatchDefersWorkAndAcknowledgesTogether: what the senders of one
// claim defer runs once at its end with every item, before their jobs are
// acknowledged (together); when it fails, those jobs come back (Attempt
// 1) after a backoff, and succeed then.
func TestBatchDefersWorkAndAcknowledgesTogether(t *testing.T) {
	ctx := context.Background()
	ob, err := storage.NewOutbox(redistest.Shared(t).Client(t), "batch1")
	if err != nil {
		t.Fatal(err)
	}
	if err := ob.Setup(ctx); err != nil {
		t.Fatal(err)
	}
	q := redisqueue.New(ob)
	for i := range 5 {
		if _, err := q.Add(ctx, outbox.Job{Platform: "p", Payload: fmt.Appendf(nil, "m%d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	var flushes [][]any
	fail := true
	key := new(int)
	send := func(ctx context.Context, j outbox.Job) error {
		b := outbox.BatchOf(ctx)
		if b == nil {
			return errors.New("no batch")
		}
		b.Defer(key, func(_ context.Context, items []any) error {
			flushes = append(flushes, items)
			if fail {
				return errors.New("commit refused")
			}
			return nil
		}, fmt.Sprintf("%s#%d", j.Payload, j.Attempt))
		return nil
	}
	w := &outbox.Worker{Queue: q, Senders: map[string]outbox.Sender{"p": send}, Consumer: "c", Batch: 16}
	if n, err := w.Step(ctx, 50*time.Millisecond); n != 5 || err != nil {
		t.Fatalf("step: %d %v", n, err)
	}
	if len(flushes) != 1 || len(flushes[0]) != 5 {
		t.Fatalf("flushes %v, want one of 5 items", flushes)
	}
	st, _ := ob.Stats(ctx)
	if st.Delayed != 5 || st.Pending != 0 {
		t.Fatalf("after a failed flush: %+v, want the 5 jobs delayed for a retry", st)
	}
	fail = false
	time.Sleep(1100 * time.Millisecond) // backoff(0) = 1 s
	if n, _ := w.Step(ctx, 50*time.Millisecond); n != 5 {
		t.Fatalf("retry step: %d jobs", n)
	}
	// The retries come back in any order (one due time for all).
	got := fmt.Sprint(flushes[1])
	for i := range 5 {
		if !strings.Contains(got, fmt.Sprintf("m%d#1", i)) || len(flushes[1]) != 5 {
			t.Fatalf("second flush %v, want the 5 again with Attempt 1", got)
		}
	}
	if st, _ := ob.Stats(ctx); st.Waiting+st.Pending+st.Delayed != 0 {
		t.Fatalf("left: %+v", st)
	}
}
