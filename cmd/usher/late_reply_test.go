package main

import (
	"context"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/usher-chat/usher/handlers"
	"github.com/usher-chat/usher/handlers/org"
	"github.com/usher-chat/usher/storage"
	"github.com/usher-chat/usher/storage/redistest"
)

// lateProxy sits in front of Redis that can hold Redis's replies back (a slow
// network or a CPU-starved usher): the commands still run at once.
type lateProxy struct {
	addr      string
	holdUntil atomic.Int64
}

func newLateProxy(t *testing.T, target string) *lateProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	p := &lateProxy{addr: ln.Addr().String()}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			go func() { io.Copy(s, c); s.Close() }()
			go func() {
				buf := make([]byte, 64<<10)
				for {
					n, err := s.Read(buf)
					if n > 0 {
						if d := time.Until(time.Unix(0, p.holdUntil.Load())); d > 0 {
							time.Sleep(d)
						}
						if _, err := c.Write(buf[:n]); err != nil {
							return
						}
					}
					if err != nil {
						c.Close()
						return
					}
				}
			}()
		}
	}()
	return p
}

type beforeHook struct{ before func(redis.Cmder) }

func (h beforeHook) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h beforeHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error { h.before(cmd); return next(ctx, cmd) }
}
func (h beforeHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	// A commit's call is a pipeline when the person index rides with it
	// (storage/commit_riders.go).
	return func(ctx context.Context, cmds []redis.Cmder) error {
		for _, c := range cmds {
			h.before(c)
		}
		return next(ctx, cmds)
	}
}

// TestCommitReplyArrivingLate: the commit runs in Redis but its reply comes
// back after the client's read timeout, so go-redis sends the script again.
// The second run must not be refused as a conflict by the first run's own
// writes: the invite succeeds once and its DM is queued. (Found under load.)
func TestCommitReplyArrivingLate(t *testing.T) {
	rs := redistest.Start(t)
	ctx := context.Background()
	px := newLateProxy(t, rs.Addr())
	opt, _ := redis.ParseURL("redis://" + px.addr + "/0")
	storage.ChatTimeouts(opt)
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	cfg := config{org: org.ID(prodOrg("dup")), publicURL: "https://usher.test", admins: []string{"a@example.com"}}
	svc, err := newService(ctx, env{}, cfg, rdb, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	if err != nil {
		t.Fatal(err)
	}
	admin := org.Identity{Platform: "slack", Email: "a@example.com", UserID: "UA"}
	svc.Handle(ctx, handlers.Request{Actor: admin, Text: "members"})
	var scripts atomic.Int32
	rdb.AddHook(beforeHook{func(cmd redis.Cmder) {
		if n := cmd.Name(); (n == "evalsha" || n == "eval") && scripts.Add(1) == 2 {
			// The commit runs in Redis; its reply comes back 1 s late.
			px.holdUntil.Store(time.Now().Add(time.Second).UnixNano())
		}
	}})
	direct := rs.Client(t)
	direct.ConfigResetStat(ctx)
	r := svc.Handle(ctx, handlers.Request{Actor: admin, Text: "invite bob@example.com"})
	// go-redis retries below its hooks: count the scripts Redis really ran.
	stats := direct.Info(ctx, "commandstats").Val()
	if !strings.Contains(stats, "cmdstat_evalsha:calls=3,") {
		t.Fatalf("want the read, the commit and the commit re-sent (3 EVALSHA):\n%s", stats)
	}
	if r.Code != "" || len(r.Deliveries) != 1 || r.Deliveries[0].To != "bob@example.com" {
		t.Fatalf("invite whose commit reply came late: code %q, %q, %d deliveries; want success and bob's DM queued", r.Code, r.Text, len(r.Deliveries))
	}
	st, _ := storage.New(rdb, cfg.org)
	snap, err := st.Load(ctx, org.Query{OpenFor: []string{"bob@example.com"}, QuotaOf: "a@example.com", QuotaDay: time.Now().UTC().Format("20060102")})
	if err != nil {
		t.Fatal(err)
	}
	if inv := snap.Open["bob@example.com"]; inv == nil || inv.ID != r.Deliveries[0].InvitationID || inv.Version != 1 {
		t.Fatalf("bob's invitation after the re-sent commit: %+v", inv)
	}
	if snap.Quota != 1 {
		t.Fatalf("the re-sent commit counted the invitation %d times against the daily quota", snap.Quota)
	}
}
