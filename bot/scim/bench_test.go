package scim_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"sync"
	"testing"
	"time"
)

// The import page and the userName filter over 100,000 users, each request
// timed over real HTTP and real Redis, with its Redis round trips counted
// and one PING to the same Redis timed after it in the same run (the
// x-roundtrip ratio is the figure to compare across machines):
//
//	go test -run '^$' -bench 'BenchmarkSCIM' -benchtime 300x ./bot/scim

var big struct {
	once sync.Once
	e    *env
}

// lasting is a TB whose cleanups wait for the process to end: the
// 100,000 users are seeded once for every run of both benchmarks.
type lasting struct{ testing.TB }

func (lasting) Cleanup(func()) {}

func bigEnv(b *testing.B) *env {
	big.once.Do(func() {
		big.e = newEnv(lasting{b})
		seed(b, big.e, 100000)
		if _, err := big.e.org.Store.ReindexWorkspaces(context.Background()); err != nil {
			b.Fatal(err)
		}
	})
	big.e.t = b
	return big.e
}

type meter struct {
	b        *testing.B
	e        *env
	op, ping time.Duration
	trips    int64
}

func (m *meter) run(f func()) {
	n := m.e.rt.Count()
	t := time.Now()
	f()
	m.op += time.Since(t)
	m.trips += m.e.rt.Count() - n
	m.b.StopTimer()
	t = time.Now()
	if err := m.e.rdb.Ping(context.Background()).Err(); err != nil {
		m.b.Fatal(err)
	}
	m.ping += time.Since(t)
	m.b.StartTimer()
}

func (m *meter) report() {
	m.b.ReportMetric(float64(m.trips)/float64(m.b.N), "roundtrips/op")
	m.b.ReportMetric(float64(m.ping.Microseconds())/float64(m.b.N), "µs-ping")
	m.b.ReportMetric(float64(m.op)/float64(m.ping), "x-roundtrip")
}

func BenchmarkSCIMUsersPage100k(b *testing.B) {
	e := bigEnv(b)
	e.do("GET", "/scim/v2/Users?count=1", nil).want(b, 200) // the token is looked up once, then cached
	m := &meter{b: b, e: e}
	b.ResetTimer()
	for i := range b.N {
		start := 1 + (i*100)%100000
		m.run(func() {
			r := e.do("GET", fmt.Sprintf("/scim/v2/Users?startIndex=%d&count=100", start), nil)
			if r.status != 200 || len(r.resources()) != 100 || r.total() != 100001 {
				b.Fatalf("page at %d: %d, %d resources, total %d", start, r.status, len(r.resources()), r.total())
			}
		})
	}
	m.report()
}

func BenchmarkSCIMUserNameFilter100k(b *testing.B) {
	e := bigEnv(b)
	e.do("GET", "/scim/v2/Users?count=1", nil).want(b, 200)
	m := &meter{b: b, e: e}
	b.ResetTimer()
	for i := range b.N {
		path := oktaExists(fmt.Sprintf("user%06d@example.com", (i*7919)%100000))
		m.run(func() {
			if r := e.do("GET", path, nil); r.status != 200 || r.total() != 1 {
				b.Fatalf("%s: %s", path, r.raw)
			}
		})
	}
	m.report()
}

// A group of 1,000 with its members reads its members set (the workspace index,
// complete after ReindexWorkspaces) and those users' access; with
// excludedAttributes=members (Entra) it reads no user.
func BenchmarkSCIMGroupGet100k(b *testing.B) {
	e := bigEnv(b)
	r := e.do("GET", "/scim/v2/Groups?filter="+q(`displayName eq "bench"`)+"&excludedAttributes=members", nil).want(b, 200)
	var id string
	if len(r.resources()) == 1 {
		id = r.resources()[0]["id"].(string)
	} else {
		id = e.do("POST", "/scim/v2/Groups", oktaGroup("bench")).want(b, 201).str("id")
		var ids []string
		for i := 0; i < 1000; i++ {
			ids = append(ids, base64.RawURLEncoding.EncodeToString([]byte(fmt.Sprintf("user%06d@example.com", i*100))))
		}
		e.do("PATCH", "/scim/v2/Groups/"+id, oktaAddMember(ids...)).want(b, 204)
	}
	for _, excluded := range []bool{false, true} {
		b.Run(fmt.Sprintf("excludedMembers=%v", excluded), func(b *testing.B) {
			e.t = b
			path := "/scim/v2/Groups/" + id
			if excluded {
				path += "?excludedAttributes=members"
			}
			m := &meter{b: b, e: e}
			b.ResetTimer()
			for range b.N {
				m.run(func() { e.do("GET", path, nil).want(b, 200) })
			}
			m.report()
		})
	}
}
