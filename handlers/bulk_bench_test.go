package handlers_test

import (
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/usher-chat/usher/bot/deliver"
	"github.com/usher-chat/usher/handlers"
	"github.com/usher-chat/usher/handlers/org"
	"github.com/usher-chat/usher/storage/redistest"
)

// BenchmarkInviteBulk1000 times the synchronous answer of a 1,000-address
// bulk invitation (decided on one read, committed in ten batches with its
// audit entries and its outbox messages, as usher serve queues them) next to
// a single invitation run in the same loop, so both see the same machine:
// x-single is the bulk's time over one single invite's, per-address-x the
// bulk's time per address over a single invite's. CPU is this process
// (getrusage) plus redis-server (INFO cpu), per bulk and per single, and
// per-address-cpu-x the bulk's per address over a single invite's; on a
// machine shared with other work the CPU figures are the steadier ones.
// Reading the CPU costs a round trip itself, counted in both.
func BenchmarkInviteBulk1000(b *testing.B) {
	srv := redistest.Shared(b)
	e := newEnvOn(b, srv.Client(b))
	router, err := deliver.New(deliver.Config{Service: e.svc})
	if err != nil {
		b.Fatal(err)
	}
	outbox := router.Outbox(deliver.Origin{Platform: "test", Email: boss, UserID: "U-" + boss})
	run := func(text string) handlers.Reply {
		return e.svc.Handle(b.Context(), handlers.Request{Actor: org.Identity{Platform: "test", UserID: "U-" + boss, Email: boss}, Text: text, Outbox: outbox})
	}
	var single, bulk, singleCPU, bulkCPU time.Duration
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		list := make([]string, 1000)
		for j := range list {
			list[j] = fmt.Sprintf("b%d-%d@example.com", i, j)
		}
		text := "invite " + strings.Join(list, "\n") + " --force"
		b.StartTimer()

		c0, t0 := cpu(b, srv), time.Now()
		r := run(fmt.Sprintf("invite s%d@example.com --force", i))
		single += time.Since(t0)
		singleCPU += cpu(b, srv) - c0
		if r.Code != "" {
			b.Fatalf("single: %s: %s", r.Code, r.Text)
		}

		c0, t0 = cpu(b, srv), time.Now()
		r = run(text)
		bulk += time.Since(t0)
		bulkCPU += cpu(b, srv) - c0
		if r.Code != "" || !strings.HasPrefix(r.Text, "Invited 1,000 of 1,000") {
			b.Fatalf("bulk: %s: %s", r.Code, r.Text)
		}
	}
	n := float64(b.N)
	b.ReportMetric(float64(bulk.Microseconds())/1000/n, "bulk-ms")
	b.ReportMetric(float64(single.Microseconds())/n, "single-µs")
	b.ReportMetric(float64(bulk)/float64(single), "x-single")
	b.ReportMetric(float64(bulk)/1000/float64(single), "per-address-x")
	b.ReportMetric(float64(bulkCPU.Microseconds())/1000/n, "bulk-cpu-ms")
	b.ReportMetric(float64(singleCPU.Microseconds())/n, "single-cpu-µs")
	b.ReportMetric(float64(bulkCPU)/1000/float64(singleCPU), "per-address-cpu-x")
}

// cpu is the CPU time used so far by this process and by redis-server.
func cpu(b *testing.B, srv *redistest.Server) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	self := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	return self + srv.CPU(b)
}
