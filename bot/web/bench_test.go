package web_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/usher-chat/usher/storage"
	"github.com/usher-chat/usher/storage/redistest"
)

// The pages' cost is reported as Redis round trips per request and as a
// ratio against one PING round trip to the same Redis, timed in the same run
// (these machines are noisy; absolute times are not compared).

func benchPage(b *testing.B, path func(*site, *browser) string) {
	rdb := redistest.Shared(b).Client(b)
	rt := &storage.RoundTrips{}
	rdb.AddHook(rt)
	s := newSiteOn(b, rdb)
	br := s.browser()
	p := path(s, br)
	var op, ping time.Duration
	rt.Reset()
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		pg := br.get(p)
		op += time.Since(start)
		if pg.status != http.StatusOK {
			b.Fatalf("%s: %d", p, pg.status)
		}
		b.StopTimer()
		n := rt.Count()
		start = time.Now()
		if err := rdb.Ping(context.Background()).Err(); err != nil {
			b.Fatal(err)
		}
		ping += time.Since(start)
		rt.Add(n - rt.Count())
		b.StartTimer()
	}
	b.ReportMetric(float64(rt.Count())/float64(b.N), "roundtrips/op")
	b.ReportMetric(float64(op)/float64(ping), "x-roundtrip")
}

// BenchmarkInvitationPage: opening an invitation link.
func BenchmarkInvitationPage(b *testing.B) {
	benchPage(b, func(s *site, _ *browser) string { _, link := s.invite("bob@example.com"); return link })
}

// BenchmarkAccountPage: a signed-in page, whose session is checked against
// the user's current state on every request.
func BenchmarkAccountPage(b *testing.B) {
	benchPage(b, func(s *site, br *browser) string {
		s.join(br, "bob@example.com", "Bob", goodPassword)
		br.signIn("bob@example.com", goodPassword, "/account")
		return "/account"
	})
}
