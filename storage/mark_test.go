package storage_test

import (
	"context"
	"testing"
	"time"

	"github.com/usher-chat/usher/storage"
	"github.com/usher-chat/usher/storage/redistest"
)

// TestMarkOnceSurvivesItsOwnRetry: go-redis re-sends a command whose reply
// timed out, so the replay guard's SET NX may run twice for one request.
// The second run of the same call still reports the first use; another
// call (a replay) does not.
func TestMarkOnceSurvivesItsOwnRetry(t *testing.T) {
	ctx := context.Background()
	rdb := redistest.Shared(t).Client(t)
	key := "usher:test:mark:" + t.Name()
	for i, want := range []bool{true, true} {
		if got, err := storage.MarkOnceWith(ctx, rdb, key, "nonce-a", time.Minute); err != nil || got != want {
			t.Fatalf("run %d of one call: %v %v, want %v", i+1, got, err, want)
		}
	}
	if got, err := storage.MarkOnceWith(ctx, rdb, key, "nonce-b", time.Minute); err != nil || got {
		t.Fatalf("another call: %v %v, want false", got, err)
	}
	// Marks through SlackState still say first use once.
	st, err := storage.NewSlackState(rdb, "marktest")
	if err != nil {
		t.Fatal(err)
	}
	first, _ := st.SetNX(ctx, "req", "same-body", time.Minute)
	again, _ := st.SetNX(ctx, "req", "same-body", time.Minute)
	if !first || again {
		t.Fatalf("slack marks: %v then %v", first, again)
	}
}
