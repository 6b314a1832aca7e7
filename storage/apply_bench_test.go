package storage

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/usher-chat/usher/handlers/org"
	"github.com/usher-chat/usher/storage/redistest"
)

// BenchmarkInviteCommitRedisCPU splits the Redis side of one invitation's
// commit: what Redis spends running apply.lua for it, next to what the same
// reads and writes cost as plain commands in one MULTI/EXEC (no guards, so
// not a usable commit: a floor). The difference is the price of scripting:
// argument conversion, the interpreter, redis.call. Figures are Redis's own
// CPU (INFO cpu) per commit, one commit per round trip, measured in the same run.
func BenchmarkInviteCommitRedisCPU(b *testing.B) {
	srv := redistest.Start(b)
	rdb := srv.Client(b)
	ctx := context.Background()
	s, err := New(rdb, "benchcpu")
	if err != nil {
		b.Fatal(err)
	}
	if err := s.LoadScripts(ctx); err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	payload := []byte(strings.Repeat(`{"kind":"dm","message":"You're invited"}`, 70)) // ~2.8 KB, like a real DM
	change := func(i int) org.Change {
		inv := &org.Invitation{ID: fmt.Sprintf("i%07d", i), Email: fmt.Sprintf("p%d@example.com", i), Role: org.RoleMember,
			Inviter: "a@example.com", Created: now, Expires: now.Add(7 * 24 * time.Hour), Status: org.InvitationPending,
			NextRemind: now.Add(24 * time.Hour), Updated: now}
		return org.Change{Now: now, Invitations: []org.InvitationWrite{{Invitation: inv, NewTokenHash: fmt.Sprintf("%043d", i)}},
			NoUsers: []string{inv.Email}, PinRevision: true,
			Quota:    &org.QuotaUse{Email: "a@example.com", Day: "20261123", N: 1, Limit: 0},
			Audit:    []org.AuditEntry{{At: now, Actor: "a@example.com", Via: "slack:U1", Action: "invitation.create", Target: inv.Email, After: "pending member ws="}},
			Messages: []org.QueuedMessage{{Platform: "slack", Channel: "slack:" + inv.Email, Payload: payload}}}
	}
	// Redis's own CPU time (INFO cpu), in µs: it counts parsing the request
	// and writing the reply too, which the commands' own timings (INFO
	// commandstats) leave out for MULTI's queued commands.
	cpu := func() float64 { return float64(srv.CPU(b).Nanoseconds()) / 1000 }
	var script, multi float64
	var seq int // invitation ids: each b.Run runs more than once
	fresh := func() {
		// The streams would grow by ~3 KB a commit: start each run small.
		rdb.FlushAll(ctx)
		if err := s.LoadScripts(ctx); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("apply.lua", func(b *testing.B) {
		fresh()
		cpu0 := cpu()
		for range b.N {
			seq++
			if errs := s.apply(ctx, []org.Change{change(seq)}); errs[0] != nil {
				b.Fatal(errs[0])
			}
		}
		script = (cpu() - cpu0) / float64(b.N)
		b.ReportMetric(script, "redis-µs/commit")
	})
	// The same keys and arguments to a script that only returns: the price
	// of carrying an invitation's ~130 arguments into a script call, the
	// round trip included, before apply.lua does anything with them.
	var carry float64
	b.Run("return-only", func(b *testing.B) {
		fresh()
		noop := redis.NewScript("return 1")
		if err := noop.Load(ctx, rdb).Err(); err != nil {
			b.Fatal(err)
		}
		cpu0 := cpu()
		for range b.N {
			seq++
			var o ops
			s.build(&o, change(seq))
			if err := noop.Run(ctx, rdb, o.keys, o.args...).Err(); err != nil {
				b.Fatal(err)
			}
		}
		carry = (cpu() - cpu0) / float64(b.N)
		b.ReportMetric(carry, "redis-µs/commit")
	})
	b.Run("plain-multi", func(b *testing.B) {
		fresh()
		cpu0 := cpu()
		for range b.N {
			seq++
			var o ops
			s.build(&o, change(seq))
			_, err := rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
				for _, c := range plainCommands(o) {
					p.Do(ctx, c...)
				}
				return nil
			})
			if err != nil && err != redis.Nil {
				b.Fatal(err)
			}
		}
		multi = (cpu() - cpu0) / float64(b.N)
		b.ReportMetric(multi, "redis-µs/commit")
	})
	if script > 0 && multi > 0 {
		fmt.Printf("invite commit, Redis CPU: apply.lua %.1f µs, the same commands in MULTI %.1f µs (script %.2fx), its arguments to a script that only returns %.1f µs\n",
			script, multi, script/multi, carry)
	}
}

// plainCommands is what apply.lua calls for ops, as plain commands (guards as
// their reads).
func plainCommands(o ops) [][]any {
	var out [][]any
	a := o.args
	for i := 0; i < len(a); {
		name := a[i].(string)
		key := o.keys[a[i+1].(int)-1]
		n := a[i+2].(int)
		args := a[i+3 : i+3+n]
		i += 3 + n
		str := func(j int) any { return args[j] }
		switch name {
		case "once", "absent":
			out = append(out, []any{"EXISTS", key})
			if name == "once" {
				out = append(out, []any{"SET", key, "1", "PX", str(0)})
			}
		case "hfeq", "hptr":
			out = append(out, []any{"HGET", key, str(0)})
		case "quota":
			out = append(out, []any{"GET", key})
		case "hset":
			out = append(out, append([]any{"HSET", key}, args...))
		case "zadd":
			out = append(out, []any{"ZADD", key, str(0), str(1)})
		case "incrby":
			out = append(out, []any{"INCRBY", key, str(0)})
		case "xadd":
			out = append(out, append([]any{"XADD", key, "MAXLEN", "~", str(0), "*"}, args[1:]...))
		case "xaddq":
			out = append(out, append([]any{"XADD", key, "*"}, args...))
		default:
			panic("plainCommands: op " + name)
		}
	}
	return out
}

// BenchmarkApply times one commit the way Commit makes it, Go side and round
// trip together: compiling the change into ops (build), the script call and
// reading each outcome back, for an invitation (the commonest commit, and the
// one with the most guards), a refused one (a guard fails: the error is made)
// and a batch of 8 as group.go sends under load. build alone is the Go side
// only, without Redis, so the least noisy measure of the compiler.
func BenchmarkApply(b *testing.B) {
	srv := redistest.Start(b)
	rdb := srv.Client(b)
	ctx := context.Background()
	s, err := New(rdb, "benchapply")
	if err != nil {
		b.Fatal(err)
	}
	if err := s.LoadScripts(ctx); err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	payload := []byte(strings.Repeat(`{"kind":"dm","message":"You're invited"}`, 70))
	change := func(id, email string) org.Change {
		inv := &org.Invitation{ID: id, Email: email, Role: org.RoleMember,
			Inviter: "a@example.com", Created: now, Expires: now.Add(7 * 24 * time.Hour), Status: org.InvitationPending,
			NextRemind: now.Add(24 * time.Hour), Updated: now}
		return org.Change{Now: now, Invitations: []org.InvitationWrite{{Invitation: inv, NewTokenHash: "h" + id}},
			NoUsers: []string{email}, PinRevision: true, Actor: "a@example.com", ActorVersion: 1,
			Quota:    &org.QuotaUse{Email: "a@example.com", Day: "20261123", N: 1, Limit: 0},
			Audit:    []org.AuditEntry{{At: now, Actor: "a@example.com", Via: "slack:U1", Action: "invitation.create", Target: email, After: "pending member ws="}},
			Messages: []org.QueuedMessage{{Platform: "slack", Channel: "slack:" + email, Payload: payload}}}
	}
	var seq int
	next := func() org.Change {
		seq++
		return change(fmt.Sprintf("i%07d", seq), fmt.Sprintf("p%d@example.com", seq))
	}
	fresh := func(b *testing.B) {
		b.Helper()
		rdb.FlushAll(ctx)
		if err := s.LoadScripts(ctx); err != nil {
			b.Fatal(err)
		}
		// The acting admin, at the version the changes pin.
		if errs := s.apply(ctx, []org.Change{{Now: now, Users: []org.UserWrite{{User: &org.User{Email: "a@example.com",
			Role: org.RoleAdmin, Status: org.StatusActive, Created: now, Updated: now}}}}}); errs[0] != nil {
			b.Fatal(errs[0])
		}
	}
	b.Run("build", func(b *testing.B) {
		ch := next()
		b.ReportAllocs()
		for range b.N {
			var o ops
			s.build(&o, ch)
		}
	})
	b.Run("invite", func(b *testing.B) {
		fresh(b)
		b.ReportAllocs()
		for range b.N {
			if errs := s.apply(ctx, []org.Change{next()}); errs[0] != nil {
				b.Fatal(errs[0])
			}
		}
	})
	b.Run("refused", func(b *testing.B) {
		fresh(b)
		if errs := s.apply(ctx, []org.Change{change("first", "taken@example.com")}); errs[0] != nil {
			b.Fatal(errs[0])
		}
		ch := change("second", "taken@example.com") // the open index points at "first"
		b.ReportAllocs()
		for range b.N {
			var stale *org.PreconditionError
			if errs := s.apply(ctx, []org.Change{ch}); !errors.As(errs[0], &stale) {
				b.Fatalf("got %v, want a precondition error", errs[0])
			}
		}
	})
	b.Run("batch8", func(b *testing.B) {
		fresh(b)
		batch := make([]org.Change, 8)
		b.ReportAllocs()
		for range b.N {
			for i := range batch {
				batch[i] = next()
			}
			for _, err := range s.apply(ctx, batch) {
				if err != nil {
					b.Fatal(err)
				}
			}
		}
	})
}
