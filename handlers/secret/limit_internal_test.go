package secret

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/usher-chat/usher/handlers/org"
)

func TestHashSlots(t *testing.T) {
	const mib = 1 << 20
	for _, c := range []struct {
		limit int64
		procs int
		want  int
	}{
		{256 * mib, 1, 1}, // the Kubernetes manifest: 256 MiB, one CPU
		{256 * mib, 8, 2}, // 128 MiB for hashing, 57 MiB a slot counting garbage
		{1024 * mib, 16, 8},
		{64 * mib, 8, 1}, // never none
		{0, 2, 2},        // no limit known: the CPUs...
		{0, 64, 4},       // ...but not more than 4
		{-1, 0, 1},
	} {
		if got := HashSlots(c.limit, c.procs); got != c.want {
			t.Errorf("HashSlots(%d MiB, %d) = %d, want %d", c.limit/mib, c.procs, got, c.want)
		}
	}
}

// TestHashingWaitsThenRefuses: with every slot taken, a hash or a check
// waits its turn, then gives up with the user-facing ErrBusy, having hashed
// nothing.
func TestHashingWaitsThenRefuses(t *testing.T) {
	limitMu.Lock()
	saved := limit
	limitMu.Unlock()
	t.Cleanup(func() { limitMu.Lock(); limit = saved; limitMu.Unlock() })
	SetHashLimit(1, 50*time.Millisecond)
	if HashLimit() != 1 {
		t.Fatalf("HashLimit %d", HashLimit())
	}
	release, err := acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := HashPassword(zeros{}, "a good long password"); !errors.Is(err, ErrBusy) || org.ErrorCode(err) != org.CodeUnavailable {
		t.Fatalf("hash with no slot: %v", err)
	}
	if took := time.Since(start); took < 50*time.Millisecond {
		t.Errorf("gave up after %v, before its wait", took)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := CheckPasswordContext(ctx, decoyHash, "x"); !errors.Is(err, ErrBusy) || !errors.Is(err, context.Canceled) {
		t.Fatalf("check with no slot and an ended context: %v", err)
	}
	if err := CheckDecoy(context.Background(), "x"); !errors.Is(err, ErrBusy) {
		t.Fatalf("decoy with no slot: %v", err)
	}
	release()
	h, err := HashPassword(zeros{}, "a good long password")
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := CheckPasswordContext(context.Background(), h, "a good long password"); !ok || err != nil {
		t.Fatalf("check after the slot came free: %v %v", ok, err)
	}
	if err := CheckDecoy(context.Background(), "a good long password"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := CheckPasswordContext(context.Background(), decoyHash, ""); ok {
		t.Fatal("the decoy hash matched a password")
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

var _ io.Reader = zeros{}
