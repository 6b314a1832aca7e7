package web_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/usher-chat/usher/bot/web"
)

// Issue 12, item 8c: failing sign-ins for someone's email must not lock them
// out. Attempts are limited per (email, client address) with a growing
// delay, and per email only at a much higher ceiling.

// from is a browser whose requests come, through the trusted proxy, from addr.
func (s *site) from(addr string) *browser {
	b := s.browser()
	b.header = http.Header{"X-Forwarded-For": {addr}}
	return b
}

func (b *browser) tryPassword(email, password string) *page {
	b.t.Helper()
	b.get("/login")
	return b.post("/login", url.Values{"email": {email}, "password": {password}})
}

func retryAfter(t *testing.T, p *page) time.Duration {
	t.Helper()
	n, err := strconv.Atoi(p.header.Get("Retry-After"))
	if err != nil {
		t.Fatalf("%d without a Retry-After: %q", p.status, p.header.Get("Retry-After"))
	}
	return time.Duration(n) * time.Second
}

func TestFailingSignInsDoNotLockTheOwnerOut(t *testing.T) {
	for _, c := range []struct {
		name     string
		attacker string // X-Forwarded-For as the proxy passes it on
		owner    string
	}{
		{"other address", "203.0.113.7", "198.51.100.9"},
		{"a spoofed entry left of the proxy's", "198.51.100.9, 203.0.113.7", "198.51.100.9"},
		{"behind a second, private proxy", "203.0.113.7, 10.0.0.3", "198.51.100.9, 10.0.0.3"},
		{"IPv6 neighbours in other /64s", "2001:db8:1:1::7", "2001:db8:1:2::9"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := newSite(t, func(cfg *web.Config) { cfg.ClientIPHeader = "X-Forwarded-For" })
			s.join(s.browser(), "bob@example.com", "Bob", goodPassword)
			attacker := s.from(c.attacker)
			limited := 0
			for i := range 30 {
				p := attacker.tryPassword("bob@example.com", fmt.Sprintf("guess number %d", i))
				if p.status == http.StatusTooManyRequests {
					limited++
				} else if p.status != http.StatusUnauthorized {
					t.Fatalf("attempt %d: %d", i, p.status)
				}
			}
			if limited == 0 {
				t.Fatal("30 failures from one address were never slowed down")
			}
			owner := s.from(c.owner)
			owner.signIn("bob@example.com", goodPassword, "/account")
		})
	}
}

// TestSignInBackoffGrows: past the free attempts, each failure from the same
// address for the same email must wait twice as long as the one before.
func TestSignInBackoffGrows(t *testing.T) {
	s := newSite(t, func(cfg *web.Config) { cfg.ClientIPHeader = "X-Forwarded-For" })
	s.join(s.browser(), "bob@example.com", "Bob", goodPassword)
	attacker := s.from("203.0.113.7")
	var waits []time.Duration
	for i := 0; len(waits) < 5 && i < 40; i++ {
		p := attacker.tryPassword("bob@example.com", fmt.Sprintf("guess number %d", i))
		if p.status != http.StatusTooManyRequests {
			continue
		}
		if !strings.Contains(text(p.body), "Too many sign-in attempts") {
			t.Fatalf("429 without its message: %s", text(p.body))
		}
		w := retryAfter(t, p)
		waits = append(waits, w)
		s.clock.Advance(w) // the delay passes; the next failure costs more
	}
	if len(waits) < 5 {
		t.Fatalf("only %d refusals: %v", len(waits), waits)
	}
	for i := 1; i < len(waits); i++ {
		if waits[i] < 2*waits[i-1]-time.Second {
			t.Fatalf("the delay does not grow: %v", waits)
		}
	}
	t.Logf("delays after each failure past the free ones: %v", waits)
}

// TestSignInEmailCeiling: failures spread over many addresses still trip the
// per-email ceiling, for everyone, until its window ends.
func TestSignInEmailCeiling(t *testing.T) {
	// A low ceiling keeps the test short: every failure below it costs a hash.
	s := newSite(t, func(cfg *web.Config) { cfg.ClientIPHeader, cfg.EmailLimit = "X-Forwarded-For", 20 })
	s.join(s.browser(), "bob@example.com", "Bob", goodPassword)
	tripped := false
	for n := 0; n < 400 && !tripped; n++ {
		p := s.from(fmt.Sprintf("203.0.%d.%d", n/250, n%250+1)).tryPassword("bob@example.com", "a wrong password")
		switch p.status {
		case http.StatusUnauthorized:
		case http.StatusTooManyRequests:
			tripped = true
			t.Logf("the email's ceiling tripped after %d failures from as many addresses", n)
		default:
			t.Fatalf("attempt %d: %d", n, p.status)
		}
	}
	if !tripped {
		t.Fatal("400 failures from 400 addresses never tripped the email's ceiling")
	}
	s.from("198.51.100.9").tryPassword("bob@example.com", goodPassword).has(t, http.StatusTooManyRequests, "Too many sign-in attempts")
}
