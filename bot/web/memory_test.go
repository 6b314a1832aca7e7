package web_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/usher-chat/usher/handlers/secret"
)

// Every sign-in runs argon2id, which allocates its memory parameter (19 MiB)
// per hash. Without a bound on how many run at once, a burst of anonymous
// POST /login requests grows the process by 19 MiB each until the container
// is killed. The figure is measured in a child process, so that nothing else
// this test binary did counts.

const (
	signInBurst    = 64
	argon2MiB      = 19
	memoryChildEnv = "USHER_TEST_SIGNIN_MEMORY_CHILD"
)

// signInMemory is what the child reports.
type signInMemory struct {
	Slots       int            `json:"slots"`
	BaselineMiB float64        `json:"baseline_mib"` // Go memory in use before the burst
	PeakMiB     float64        `json:"peak_mib"`     // the highest sample during it
	VmHWMMiB    float64        `json:"vmhwm_mib"`    // the kernel's peak resident set of the child
	Statuses    map[string]int `json:"statuses"`
	Problems    []string       `json:"problems"`
	Seconds     float64        `json:"seconds"`
}

// TestConcurrentSignInsStayWithinMemory fires 64 concurrent sign-ins (unknown
// emails, which cost a decoy hash, and wrong passwords for a real account)
// and checks that the process's Go memory grows by no more than the password
// hashes allowed at once can take, and that every request got an answer.
//
//	go test -count=1 -run TestConcurrentSignInsStayWithinMemory -v ./bot/web/
func TestConcurrentSignInsStayWithinMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a child process")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestConcurrentSignInsChild$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), memoryChildEnv+"=1")
	out, err := cmd.CombinedOutput()
	var m *signInMemory
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "SIGNIN-MEMORY "); ok {
			m = &signInMemory{}
			if err := json.Unmarshal([]byte(rest), m); err != nil {
				t.Fatalf("child's report %q: %v", rest, err)
			}
		}
	}
	if err != nil || m == nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	t.Logf("%d concurrent sign-ins: peak %.0f MiB of Go memory (baseline %.0f MiB, +%.0f MiB), VmHWM %.0f MiB, %d hashes at once, %.1fs, answers %v",
		signInBurst, m.PeakMiB, m.BaselineMiB, m.PeakMiB-m.BaselineMiB, m.VmHWMMiB, m.Slots, m.Seconds, m.Statuses)
	for _, p := range m.Problems {
		t.Error(p)
	}
	// Each hash holds 19 MiB while it runs, and GOGC=100 lets the heap grow
	// to twice what was live at the last collection before the next one,
	// while hashes keep allocating during the collection: up to about three
	// hashes' memory per slot (measured: +63, +101, +157, +215 MiB with 1 to
	// 4 slots), plus two for the pages and clients. Unbounded, 64 sign-ins
	// take about 64 hashes' memory (+1091 MiB).
	bound := m.BaselineMiB + float64((3*m.Slots+2)*argon2MiB)
	if grew := m.PeakMiB - m.BaselineMiB; grew > bound {
		t.Errorf("%d concurrent sign-ins grew Go memory by %.0f MiB; with %d password hashes at once it must stay under %.0f MiB",
			signInBurst, grew, m.Slots, bound)
	}
}

// TestConcurrentSignInsChild is the measured process of
// TestConcurrentSignInsStayWithinMemory; alone it does nothing.
func TestConcurrentSignInsChild(t *testing.T) {
	if os.Getenv(memoryChildEnv) == "" {
		t.Skip("run by TestConcurrentSignInsStayWithinMemory")
	}
	s := newSite(t)
	b := s.browser()
	s.join(b, "bob@example.com", "Bob", goodPassword)

	// Every browser opens the form first, so that only the posts overlap.
	forms := make([]*burstBrowser, signInBurst)
	for i := range forms {
		forms[i] = newBurstBrowser(t, s.srv.URL)
	}

	runtime.GC()
	debug.FreeOSMemory()
	baseline := goMemoryInUse()
	var peak atomic.Uint64
	peak.Store(baseline)
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			if v := goMemoryInUse(); v > peak.Load() {
				peak.Store(v)
			}
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()

	start := make(chan struct{})
	type answer struct {
		status int
		body   string
		err    error
	}
	answers := make([]answer, signInBurst)
	var wg sync.WaitGroup
	for i, f := range forms {
		email := fmt.Sprintf("nobody%d@example.com", i)
		if i%8 == 0 { // a real account, wrong password: below its limit of attempts
			email = "bob@example.com"
		}
		wg.Go(func() {
			<-start
			answers[i].status, answers[i].body, answers[i].err = f.signIn(email, "not the password "+strconv.Itoa(i))
		})
	}
	began := time.Now()
	close(start)
	wg.Wait()
	took := time.Since(began)
	close(stop)
	<-sampled

	rep := signInMemory{Slots: hashSlots(), BaselineMiB: mib(baseline), PeakMiB: mib(peak.Load()), VmHWMMiB: vmHWM(t),
		Statuses: map[string]int{}, Seconds: took.Seconds()}
	clear := map[int]string{
		http.StatusUnauthorized:       "That email and password don't match.",
		http.StatusTooManyRequests:    "Too many sign-in attempts",
		http.StatusServiceUnavailable: "usher is busy checking other passwords right now",
	}
	for i, a := range answers {
		if a.err != nil {
			rep.Problems = append(rep.Problems, fmt.Sprintf("sign-in %d: no answer: %v", i, a.err))
			continue
		}
		rep.Statuses[strconv.Itoa(a.status)]++
		want, ok := clear[a.status]
		if !ok {
			rep.Problems = append(rep.Problems, fmt.Sprintf("sign-in %d: status %d: %s", i, a.status, text(a.body)))
		} else if !strings.Contains(text(a.body), want) {
			rep.Problems = append(rep.Problems, fmt.Sprintf("sign-in %d: status %d without %q: %s", i, a.status, want, text(a.body)))
		}
	}
	sort.Strings(rep.Problems)
	js, _ := json.Marshal(rep)
	fmt.Println("SIGNIN-MEMORY " + string(js))
}

// burstBrowser is a browser that has the sign-in form open.
type burstBrowser struct {
	base string
	c    *http.Client
	csrf string
}

func newBurstBrowser(t *testing.T, base string) *burstBrowser {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	b := &burstBrowser{base: base, c: &http.Client{Jar: jar, Timeout: 2 * time.Minute,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	resp, err := b.c.Get(base + "/login")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if b.csrf = csrfOf(string(body)); b.csrf == "" {
		t.Fatalf("no CSRF token on the sign-in page: %s", text(string(body)))
	}
	return b
}

func (b *burstBrowser) signIn(email, password string) (int, string, error) {
	form := url.Values{"email": {email}, "password": {password}, "csrf": {b.csrf}}
	resp, err := b.c.PostForm(b.base+"/login", form)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), err
}

var memorySamples = []metrics.Sample{{Name: "/memory/classes/total:bytes"}, {Name: "/memory/classes/heap/released:bytes"}}

// goMemoryInUse is the memory the Go runtime has mapped and not given back to
// the kernel: the heap in use and its garbage, stacks, runtime structures.
// (The race detector's shadow memory is not in it, so it reads the same in
// -race runs.)
func goMemoryInUse() uint64 {
	s := make([]metrics.Sample, len(memorySamples))
	copy(s, memorySamples)
	metrics.Read(s)
	return s[0].Value.Uint64() - s[1].Value.Uint64()
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }

// vmHWM is the child's peak resident set according to the kernel.
func vmHWM(t *testing.T) float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			return kb / 1024
		}
	}
	return 0
}

func hashSlots() int { return secret.HashLimit() }

// TestBusySignInKeepsTheForm: a sign-in that finds every password-hash slot
// taken past its wait gets the sign-in form again, 503 with Retry-After and
// "try again", not an error page. One slot and a 1 ms wait make the second of
// a few simultaneous sign-ins find it taken.
func TestBusySignInKeepsTheForm(t *testing.T) {
	prev := secret.HashLimit()
	secret.SetHashLimit(1, time.Millisecond)
	t.Cleanup(func() { secret.SetHashLimit(prev, secret.DefaultHashWait) })
	s := newSite(t)
	for round := 0; round < 20; round++ {
		forms := make([]*burstBrowser, 6)
		for i := range forms {
			forms[i] = newBurstBrowser(t, s.srv.URL)
		}
		type answer struct {
			status int
			body   string
			retry  string
		}
		answers := make([]answer, len(forms))
		var wg sync.WaitGroup
		for i, f := range forms {
			wg.Go(func() {
				form := url.Values{"email": {fmt.Sprintf("r%di%d@example.com", round, i)}, "password": {"a wrong password"}, "csrf": {f.csrf}}
				resp, err := f.c.PostForm(f.base+"/login", form)
				if err != nil {
					t.Error(err)
					return
				}
				defer resp.Body.Close()
				b, _ := io.ReadAll(resp.Body)
				answers[i] = answer{resp.StatusCode, string(b), resp.Header.Get("Retry-After")}
			})
		}
		wg.Wait()
		for _, a := range answers {
			if a.status != http.StatusServiceUnavailable {
				continue
			}
			page := text(a.body)
			if a.retry != "5" || !strings.Contains(page, "usher is busy checking other passwords right now, so nothing was changed. Please try again in a few seconds.") ||
				!strings.Contains(a.body, `name="password"`) {
				t.Fatalf("busy answer: Retry-After %q\n%s", a.retry, page)
			}
			return
		}
	}
	t.Fatal("20 rounds of 6 simultaneous sign-ins with one slot and a 1 ms wait never found it taken")
}
