package web

import (
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
)

func TestClientAddr(t *testing.T) {
	direct := &Handler{}
	proxied := &Handler{cfg: Config{ClientIPHeader: "X-Forwarded-For"}}
	cases := []struct {
		h          *Handler
		remote, xf string
		want       string
	}{
		{direct, "192.0.2.7:5555", "", "192.0.2.7"},
		{direct, "192.0.2.7:5555", "203.0.113.9", "192.0.2.7"}, // the header is not trusted
		{direct, "[2001:db8:1:2:3:4:5:6]:443", "", "2001:db8:1:2::/64"},
		{direct, "[::ffff:192.0.2.7]:1", "", "192.0.2.7"},
		{direct, "garbage", "", "unknown"},
		{proxied, "10.0.0.1:5555", "198.51.100.1, 203.0.113.9", "203.0.113.9"}, // the proxy's own entry
		{proxied, "10.0.0.1:5555", "203.0.113.9:8080", "203.0.113.9"},
		{proxied, "10.0.0.1:5555", "", "10.0.0.1"},
		{proxied, "10.0.0.1:5555", "not an address", "unknown"},
		// The right-most entry that is not the deployment's own (private)
		// proxy: what the outermost proxy saw, which the client cannot choose.
		{proxied, "10.0.0.1:5555", "203.0.113.9, 10.0.0.3", "203.0.113.9"},
		{proxied, "10.0.0.1:5555", "198.51.100.66, 203.0.113.9, 10.0.0.3, 172.16.0.2", "203.0.113.9"}, // spoofed entry on the left
		{proxied, "10.0.0.1:5555", "10.1.2.3, 10.0.0.3", "10.0.0.3"},                                  // all private: the nearest proxy's entry
		{proxied, "10.0.0.1:5555", "::1, 127.0.0.1", "127.0.0.1"},
		{proxied, "10.0.0.1:5555", "203.0.113.5, garbage, 10.0.0.3", "10.0.0.3"}, // nothing left of garbage is trusted
		{proxied, "10.0.0.1:5555", "2001:db8:9:9::1, fd00::3", "2001:db8:9:9::/64"},
	}
	for _, c := range cases {
		r := httptest.NewRequest("GET", "/login", nil)
		r.RemoteAddr = c.remote
		if c.xf != "" {
			r.Header.Set("X-Forwarded-For", c.xf)
		}
		if c.xf == "203.0.113.9, 10.0.0.3" { // the same as two header lines
			r.Header["X-Forwarded-For"] = []string{"203.0.113.9", "10.0.0.3"}
		}
		if got := c.h.clientAddr(r); got != c.want {
			t.Errorf("remote %q, header %q: %q, want %q", c.remote, c.xf, got, c.want)
		}
	}
}

// FuzzClientAddr: whatever a client sends, the rate-limit key is an address,
// a /64, or "unknown" — never the raw header (a Redis key of the client's
// choosing).
func FuzzClientAddr(f *testing.F) {
	for _, s := range []string{"192.0.2.1", "::1", "a, b, c", "[fe80::1%eth0]:80", ""} {
		f.Add(s)
	}
	h := &Handler{cfg: Config{ClientIPHeader: "X-Forwarded-For"}}
	f.Fuzz(func(t *testing.T, xf string) {
		r := httptest.NewRequest("GET", "/login", nil)
		r.Header["X-Forwarded-For"] = []string{xf}
		got := h.clientAddr(r)
		if got == "unknown" {
			return
		}
		if _, err := netip.ParseAddr(got); err == nil {
			return
		}
		if p, err := netip.ParsePrefix(got); err == nil && p.Bits() == 64 && !strings.Contains(got, "%") {
			return
		}
		t.Fatalf("%q gave the key %q", xf, got)
	})
}

func TestEmailKey(t *testing.T) {
	for in, want := range map[string]string{
		" Bob@Example.COM ":      "email:bob@example.com", // the identity: lower-cased as a whole
		"not an email":           "email:not an email",
		strings.Repeat("x", 300): "email:" + strings.Repeat("x", 254),
	} {
		if got := emailKey(in); got != want {
			t.Errorf("%q: %q, want %q", in, got, want)
		}
	}
}
