package secret

import (
	"context"
	"errors"
	"math"
	"runtime"
	"runtime/debug"
	"sync"
	"time"

	"github.com/usher-chat/usher/handlers/org"
)

// Every argon2id hash allocates its memory parameter (19 MiB) for as long as
// it runs, and the process cannot tell a burst of sign-ins from an attack:
// without a bound, 16 concurrent POST /login requests exceed a 256 MiB
// container. Every hash and check in this package therefore takes one of a
// fixed number of slots first; a caller that cannot get one within its wait
// gets ErrBusy, which the pages answer with 503 and Retry-After.

// HashMemory is what one password hash holds while it runs, in bytes.
const HashMemory = argonMemory << 10

// DefaultHashWait is how long a hash waits for a slot before ErrBusy.
const DefaultHashWait = 3 * time.Second

// ErrBusy refuses a password hash or check for which no slot came free in
// time. Nothing was hashed, so nothing was checked or changed; the caller
// says so and asks to try again.
var ErrBusy = &org.Error{Code: org.CodeUnavailable,
	Message: "usher is busy checking other passwords right now, so nothing was changed.",
	Hint:    "Please try again in a few seconds."}

type hashLimit struct {
	slots chan struct{}
	wait  time.Duration
}

var (
	limitMu sync.Mutex
	limit   *hashLimit
)

// SetHashLimit lets at most n password hashes run at once in this process,
// each waiting at most wait for a slot. Hashes already running keep the slot
// they hold. Call it at start, before serving.
func SetHashLimit(n int, wait time.Duration) {
	n = max(n, 1)
	if wait <= 0 {
		wait = DefaultHashWait
	}
	limitMu.Lock()
	defer limitMu.Unlock()
	limit = &hashLimit{slots: make(chan struct{}, n), wait: wait}
}

// HashLimit returns how many password hashes may run at once.
func HashLimit() int { return cap(currentLimit().slots) }

func currentLimit() *hashLimit {
	limitMu.Lock()
	defer limitMu.Unlock()
	if limit == nil {
		limit = &hashLimit{slots: make(chan struct{}, HashSlots(debug.SetMemoryLimit(-1), runtime.GOMAXPROCS(0))), wait: DefaultHashWait}
	}
	return limit
}

// HashSlots sizes the bound for a process with memoryLimit bytes (0, negative
// or math.MaxInt64: none known) and procs CPUs. Argon2 is CPU-bound, so more
// slots than CPUs only add memory, not throughput. Of a known limit, half is
// for hashing, and each slot counts three hashes' memory: the garbage
// finished hashes leave lives until the next collection, which GOGC=100
// lets the heap double for, and hashes keep allocating while it runs
// (measured: 63, 101, 157 and 215 MiB above the baseline with 1 to 4 slots,
// TestConcurrentSignInsStayWithinMemory). Without a known limit, at most 4.
func HashSlots(memoryLimit int64, procs int) int {
	n := max(procs, 1)
	if memoryLimit > 0 && memoryLimit < math.MaxInt64 {
		n = min(n, int(memoryLimit/2/(3*HashMemory)))
	} else {
		n = min(n, 4)
	}
	return max(n, 1)
}

// acquire takes a slot, waiting at most the limit's wait (and never past
// ctx), and returns its release.
func acquire(ctx context.Context) (func(), error) {
	l := currentLimit()
	select {
	case l.slots <- struct{}{}:
		return func() { <-l.slots }, nil
	default:
	}
	t := time.NewTimer(l.wait)
	defer t.Stop()
	select {
	case l.slots <- struct{}{}:
		return func() { <-l.slots }, nil
	case <-t.C:
		return nil, ErrBusy
	case <-ctx.Done():
		return nil, errors.Join(ErrBusy, ctx.Err())
	}
}
