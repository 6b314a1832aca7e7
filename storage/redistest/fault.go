package redistest

import (
	"context"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/redis/go-redis/v9"
)

// FaultMode is what a Fault does to the command it catches.
type FaultMode int

const (
	// FreezeServer stops the server (Server.Freeze, SIGSTOP) just before the
	// command is sent: it lands in the server's input buffer and runs when the
	// server is thawed, while the client times out waiting for the reply.
	FreezeServer FaultMode = iota + 1
	// DropCommand never sends the command and reports a read timeout, as if
	// it was lost on the way (or is still on its way).
	DropCommand
	// LoseReply sends the command, lets it run, then reports a read timeout
	// instead of its reply, as if the reply was lost on the way back.
	LoseReply
)

// Fault is a go-redis hook that interferes, once, with the first command
// that Match accepts after Arm: outage tests use it to cut Redis off at the
// one moment that matters (between a command's read and its commit) without
// depending on timing. Add it with client.AddHook before the client is used.
type Fault struct {
	Server *Server // needed by FreezeServer
	Match  func(args []any) bool

	mu     sync.Mutex
	mode   FaultMode
	caught []any // the caught command's arguments
}

// Arm makes the next matching command suffer mode.
func (f *Fault) Arm(mode FaultMode) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.mode, f.caught = mode, nil
}

// Caught returns the arguments of the command the fault caught, or nil: a
// test can re-send a dropped command to play its late arrival.
func (f *Fault) Caught() []any {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.caught
}

// errTimeout is what a client sees when no reply comes in time.
var errTimeout = &net.OpError{Op: "read", Net: "tcp", Err: fmt.Errorf("redistest fault: %w", os.ErrDeadlineExceeded)}

func (f *Fault) take(args []any) FaultMode {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.mode == 0 || f.Match == nil || !f.Match(args) {
		return 0
	}
	mode := f.mode
	f.mode, f.caught = 0, args
	return mode
}

func (f *Fault) DialHook(next redis.DialHook) redis.DialHook { return next }

func (f *Fault) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		switch f.take(cmd.Args()) {
		case FreezeServer:
			f.Server.Freeze()
		case DropCommand:
			cmd.SetErr(errTimeout)
			return errTimeout
		case LoseReply:
			_ = next(ctx, cmd)
			cmd.SetErr(errTimeout)
			return errTimeout
		}
		return next(ctx, cmd)
	}
}

func (f *Fault) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

// ScriptCallStartingWith matches an EVAL or EVALSHA whose first argument
// (ARGV[1]) is first: storage's apply.lua always starts with the "once" op.
func ScriptCallStartingWith(first string) func(args []any) bool {
	return func(args []any) bool {
		if len(args) < 3 {
			return false
		}
		if name, _ := args[0].(string); !strings.EqualFold(name, "evalsha") && !strings.EqualFold(name, "eval") {
			return false
		}
		n, ok := args[2].(int)
		if !ok || len(args) <= 3+n {
			return false
		}
		return fmt.Sprint(args[3+n]) == first
	}
}

// FaultyClient starts a redis-server of its own and returns a client to it
// carrying a Fault that catches usher's commit (the apply script, whose
// first argument starts with "once"). configure adjusts the client's options
// first, e.g. with storage.ChatTimeouts, which this package cannot import.
func FaultyClient(t testing.TB, configure func(*redis.Options)) (*Server, *redis.Client, *Fault) {
	t.Helper()
	srv := Start(t)
	t.Cleanup(srv.Thaw) // runs before Start's Stop
	opt := &redis.Options{Addr: srv.Addr()}
	if configure != nil {
		configure(opt)
	}
	rdb := redis.NewClient(opt)
	fault := &Fault{Server: srv, Match: ScriptCallStartingWith("once")}
	rdb.AddHook(fault)
	t.Cleanup(func() { rdb.Close() })
	return srv, rdb, fault
}
