package teams_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/infracloudio/msbotbuilder-go/schema"

	"github.com/usher-chat/usher/bot/teams"
	"github.com/usher-chat/usher/bot/teams/teamstest"
)

// clock is a settable time for the validator.
type clock struct{ ns atomic.Int64 }

func newClock() *clock               { c := &clock{}; c.ns.Store(time.Now().UnixNano()); return c }
func (c *clock) Now() time.Time      { return time.Unix(0, c.ns.Load()) }
func (c *clock) Add(d time.Duration) { c.ns.Add(int64(d)) }

func newValidator(f *teamstest.Fake, c *clock) *teams.Validator {
	return &teams.Validator{AppID: f.AppID, MetadataURL: f.MetadataURL(), AllowedTenants: []string{f.Tenant}, Now: c.Now}
}

func activity(f *teamstest.Fake) *teams.Activity {
	a := &teams.Activity{}
	a.Type = "message"
	a.ServiceURL = f.ServiceURL()
	a.ChannelID = "msteams"
	a.Conversation = schema.ConversationAccount{ID: "a:1", ConversationType: "personal", TenantID: f.Tenant}
	return a
}

func with(c teamstest.Claims, kv ...any) teamstest.Claims {
	out := teamstest.Claims{}
	for k, v := range c {
		out[k] = v
	}
	for i := 0; i < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(out, kv[i].(string))
		} else {
			out[kv[i].(string)] = kv[i+1]
		}
	}
	return out
}

// TestAuthenticateRejections: every way a token can be wrong is refused
// with 401 (or 403 for a foreign tenant), none is accepted, none panics.
func TestAuthenticateRejections(t *testing.T) {
	f := teamstest.New(t)
	f.AddKey(t, "skype-only", true, "skype")
	now := time.Now()
	valid := f.ValidClaims(f.ServiceURL())
	good := f.Sign("k1", valid)
	hs, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, valid).SignedString([]byte("guessable"))
	none, _ := jwt.NewWithClaims(jwt.SigningMethodNone, valid).SignedString(jwt.UnsafeAllowNoneSignatureType)
	parts := strings.Split(good, ".")
	tampered := parts[0] + "." + parts[1] + "." + strings.Map(func(r rune) rune {
		if r == 'A' {
			return 'B'
		}
		return r
	}, parts[2])
	if tampered == good {
		tampered = parts[0] + "." + parts[1] + ".AAAA" + parts[2][4:]
	}
	foreign := activity(f)
	foreign.Conversation.TenantID = "ffffffff-0000-0000-0000-000000000000"
	mismatched := activity(f)
	mismatched.ServiceURL = "https://smba.trafficmanager.net/emea/"
	otherChannel := activity(f)
	otherChannel.ChannelID = "webchat"

	cases := []struct {
		name   string
		header string
		act    *teams.Activity
		status int
	}{
		{"missing header", "", nil, 401},
		{"not Bearer", "Basic " + good, nil, 401},
		{"Bearer without token", "Bearer ", nil, 401},
		{"garbage", "Bearer not.a.jwt", nil, 401},
		{"wrong issuer", "Bearer " + f.Sign("k1", with(valid, "iss", "https://sts.windows.net/x/")), nil, 401},
		{"wrong audience", "Bearer " + f.Sign("k1", with(valid, "aud", "someone-else")), nil, 401},
		{"audience array without us", "Bearer " + f.Sign("k1", with(valid, "aud", []string{"a", "b"})), nil, 401},
		{"expired beyond skew", "Bearer " + f.Sign("k1", with(valid, "exp", now.Add(-6*time.Minute).Unix())), nil, 401},
		{"nbf in the future", "Bearer " + f.Sign("k1", with(valid, "nbf", now.Add(6*time.Minute).Unix())), nil, 401},
		{"missing exp", "Bearer " + f.Sign("k1", with(valid, "exp", nil)), nil, 401},
		{"exp of the wrong type", "Bearer " + f.Sign("k1", with(valid, "exp", "tomorrow")), nil, 401},
		{"bad signature", "Bearer " + tampered, nil, 401},
		{"HS256", "Bearer " + hs, nil, 401},
		{"alg none", "Bearer " + none, nil, 401},
		{"unknown kid", "Bearer " + signUnknown(t, f, valid), nil, 401},
		{"key not endorsed for the channel", "Bearer " + f.Sign("skype-only", valid), nil, 401},
		{"channel the key is not endorsed for", "Bearer " + good, otherChannel, 401},
		{"serviceurl missing", "Bearer " + f.Sign("k1", with(valid, "serviceurl", nil)), nil, 401},
		{"serviceurl of the wrong type", "Bearer " + f.Sign("k1", with(valid, "serviceurl", 42)), nil, 401},
		{"serviceurl mismatched", "Bearer " + good, mismatched, 401},
		{"tenant not allowed", "Bearer " + good, foreign, 403},
	}
	v := newValidator(f, newClock())
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			act := c.act
			if act == nil {
				act = activity(f)
			}
			_, err := v.Authenticate(context.Background(), c.header, act)
			var ae *teams.AuthError
			if !errors.As(err, &ae) {
				t.Fatalf("accepted (err %v)", err)
			}
			if ae.Status != c.status {
				t.Fatalf("status %d, want %d (%v)", ae.Status, c.status, err)
			}
			if strings.Contains(ae.Error(), strings.TrimPrefix(c.header, "Bearer ")) && len(c.header) > 20 {
				t.Fatalf("the error repeats the token: %v", err)
			}
		})
	}
}

func signUnknown(t *testing.T, f *teamstest.Fake, c teamstest.Claims) string {
	f.AddKey(t, "unpublished", false, "msteams")
	return f.Sign("unpublished", c)
}

func TestAuthenticateAccepts(t *testing.T) {
	f := teamstest.New(t)
	v := newValidator(f, newClock())
	now := time.Now()
	valid := f.ValidClaims(f.ServiceURL())
	noSlash := activity(f)
	noSlash.ServiceURL = strings.ToUpper(strings.TrimSuffix(f.ServiceURL(), "/"))
	for name, c := range map[string]struct {
		claims teamstest.Claims
		act    *teams.Activity
	}{
		"valid":                        {valid, nil},
		"expired within the skew":      {with(valid, "exp", now.Add(-4*time.Minute).Unix()), nil},
		"nbf within the skew":          {with(valid, "nbf", now.Add(4*time.Minute).Unix()), nil},
		"audience array with us":       {with(valid, "aud", []string{"x", f.AppID}), nil},
		"serviceUrl case and slash":    {valid, noSlash},
		"tenant from channelData only": {valid, tenantInChannelData(f)},
	} {
		t.Run(name, func(t *testing.T) {
			act := c.act
			if act == nil {
				act = activity(f)
			}
			claims, err := v.Authenticate(context.Background(), "Bearer "+f.Sign("k1", c.claims), act)
			if err != nil {
				t.Fatal(err)
			}
			if claims.ServiceURL == "" {
				t.Fatal("no serviceurl claim returned")
			}
		})
	}
}

func tenantInChannelData(f *teamstest.Fake) *teams.Activity {
	a, err := teams.ParseActivity([]byte(`{"type":"message","serviceUrl":"` + f.ServiceURL() + `","channelId":"msteams","conversation":{"id":"19:x"},"channelData":{"tenant":{"id":"` + f.Tenant + `"}}}`))
	if err != nil {
		panic(err)
	}
	return a
}

// Many requests, concurrently: the metadata and the JWKS are fetched once.
func TestKeysFetchedOnceForManyRequests(t *testing.T) {
	f := teamstest.New(t)
	v := newValidator(f, newClock())
	tok := "Bearer " + f.Sign("k1", f.ValidClaims(f.ServiceURL()))
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 50 {
				if _, err := v.Authenticate(context.Background(), tok, activity(f)); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if m, j := f.MetadataHits.Load(), f.JWKSHits.Load(); m != 1 || j != 1 {
		t.Fatalf("400 validations fetched the metadata %d and the JWKS %d times, want 1 and 1", m, j)
	}
}

// A token from a key not yet in the cached JWKS triggers one refresh (rate
// limited), then the key is found once it is published: rotation works, and
// a flood of unknown kids cannot hammer the metadata endpoint.
func TestUnknownKidRefreshesOnceThenRotates(t *testing.T) {
	f := teamstest.New(t)
	c := newClock()
	v := newValidator(f, c)
	ctx := context.Background()
	if _, err := v.Authenticate(ctx, "Bearer "+f.Sign("k1", f.ValidClaims(f.ServiceURL())), activity(f)); err != nil {
		t.Fatal(err)
	}
	f.AddKey(t, "k2", false, "msteams")
	k2 := "Bearer " + f.Sign("k2", f.ValidClaims(f.ServiceURL()))
	for range 20 {
		if _, err := v.Authenticate(ctx, k2, activity(f)); err == nil {
			t.Fatal("a token from an unpublished key was accepted")
		}
	}
	// First unknown kid: it was fetched less than MinRefresh ago, so no refresh yet.
	if j := f.JWKSHits.Load(); j != 1 {
		t.Fatalf("JWKS fetched %d times during the rate limit window, want 1", j)
	}
	c.Add(2 * time.Minute)
	for range 20 {
		v.Authenticate(ctx, k2, activity(f))
	}
	if j := f.JWKSHits.Load(); j != 2 {
		t.Fatalf("JWKS fetched %d times after the window, want 2 (one refresh for many unknown-kid tokens)", j)
	}
	f.Publish("k2", true) // Microsoft rotates
	c.Add(2 * time.Minute)
	if _, err := v.Authenticate(ctx, k2, activity(f)); err != nil {
		t.Fatalf("after rotation: %v", err)
	}
	if j := f.JWKSHits.Load(); j != 3 {
		t.Fatalf("JWKS fetched %d times, want 3", j)
	}
}

// The keys are refreshed when older than 24 hours; an outage of the metadata
// endpoint then keeps the old keys working.
func TestKeysRefreshedDaily(t *testing.T) {
	f := teamstest.New(t)
	c := newClock()
	v := newValidator(f, c)
	ctx := context.Background()
	auth := func() error {
		_, err := v.Authenticate(ctx, "Bearer "+f.Sign("k1", teamstest.Claims(with(f.ValidClaims(f.ServiceURL()),
			"exp", c.Now().Add(time.Hour).Unix(), "nbf", c.Now().Unix(), "iat", c.Now().Unix()))), activity(f))
		return err
	}
	if err := auth(); err != nil {
		t.Fatal(err)
	}
	c.Add(25 * time.Hour)
	if err := auth(); err != nil {
		t.Fatal(err)
	}
	if m := f.MetadataHits.Load(); m != 2 {
		t.Fatalf("metadata fetched %d times over 25 h, want 2", m)
	}
}

func TestAlgorithmMustBeAdvertised(t *testing.T) {
	f := teamstest.New(t)
	f.Algs = []string{"ES256"}
	v := newValidator(f, newClock())
	if _, err := v.Authenticate(context.Background(), "Bearer "+f.Sign("k1", f.ValidClaims(f.ServiceURL())), activity(f)); err == nil {
		t.Fatal("accepted although the metadata does not advertise RS256")
	}
}

func TestNoAppIDAcceptsNothing(t *testing.T) {
	f := teamstest.New(t)
	v := &teams.Validator{MetadataURL: f.MetadataURL(), AllowedTenants: []string{"*"}}
	if _, err := v.Authenticate(context.Background(), "Bearer "+f.Sign("k1", f.ValidClaims(f.ServiceURL())), activity(f)); err == nil {
		t.Fatal("a validator without an app id accepted a token")
	}
}

// BenchmarkAuthenticate compares one validation with a warm key cache to one
// HTTP round trip to a local server: what msbotbuilder-go spends on every
// request fetching the metadata before it even checks the signature. The
// figures are reported side by side and as a ratio, measured in one run.
func BenchmarkAuthenticate(b *testing.B) {
	f := teamstest.New(b)
	v := &teams.Validator{AppID: f.AppID, MetadataURL: f.MetadataURL(), AllowedTenants: []string{f.Tenant}}
	tok := "Bearer " + f.Sign("k1", f.ValidClaims(f.ServiceURL()))
	act := activity(f)
	ctx := context.Background()
	if _, err := v.Authenticate(ctx, tok, act); err != nil {
		b.Fatal(err)
	}
	local := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(`{"jwks_uri":"x"}`)) }))
	defer local.Close()
	client := &http.Client{}
	roundTrip := func() {
		resp, err := client.Get(local.URL)
		if err != nil {
			b.Fatal(err)
		}
		resp.Body.Close()
	}
	roundTrip()
	b.ResetTimer()
	start := time.Now()
	n := 0
	for b.Loop() {
		if _, err := v.Authenticate(ctx, tok, act); err != nil {
			b.Fatal(err)
		}
		n++
	}
	validate := time.Since(start) / time.Duration(n)
	b.StopTimer()
	rounds := max(n, 200)
	start = time.Now()
	for range rounds {
		roundTrip()
	}
	rt := time.Since(start) / time.Duration(rounds)
	b.ReportMetric(float64(validate.Microseconds())+float64(validate%time.Microsecond)/1e3, "µs/validation")
	b.ReportMetric(float64(rt.Microseconds())+float64(rt%time.Microsecond)/1e3, "µs/roundtrip")
	b.ReportMetric(float64(validate)/float64(rt), "validation/roundtrip")
}

// FuzzAuthenticate: no header and no activity makes the validator panic or
// accept without a valid signature.
func FuzzAuthenticate(f *testing.F) {
	fake := teamstest.New(f)
	v := &teams.Validator{AppID: fake.AppID, MetadataURL: fake.MetadataURL(), AllowedTenants: []string{"*"}}
	good := fake.Sign("k1", fake.ValidClaims(fake.ServiceURL()))
	f.Add("Bearer "+good, fake.ServiceURL(), "msteams")
	f.Add("Bearer "+good[:len(good)-3]+"abc", fake.ServiceURL(), "msteams")
	f.Add("Bearer eyJhbGciOiJub25lIn0.e30.", "x", "")
	f.Add("bearer  ", "", "msteams")
	f.Fuzz(func(t *testing.T, header, serviceURL, channel string) {
		act := activity(fake)
		act.ServiceURL, act.ChannelID = serviceURL, channel
		if _, err := v.Authenticate(context.Background(), header, act); err == nil && !strings.Contains(header, good) {
			t.Fatalf("accepted %q", header) // only the one genuine token may pass
		}
	})
}

// TestAuthenticateTenantLinked: with MICROSOFT_ALLOWED_TENANTS=directory a
// tenant off the static list is allowed when the directory links it, 403
// when it does not, and 503 (never allowed) when the directory cannot say.
func TestAuthenticateTenantLinked(t *testing.T) {
	f := teamstest.New(t)
	v := newValidator(f, newClock())
	v.AllowedTenants = []string{"99999999-0000-0000-0000-000000000000"}
	linked := map[string]bool{}
	var down error
	v.TenantLinked = func(_ context.Context, tenant string) (bool, error) { return linked[tenant], down }
	good := "Bearer " + f.Sign("k1", f.ValidClaims(f.ServiceURL()))
	status := func() int {
		_, err := v.Authenticate(context.Background(), good, activity(f))
		var ae *teams.AuthError
		if err == nil {
			return 200
		} else if errors.As(err, &ae) {
			return ae.Status
		}
		return -1
	}
	if s := status(); s != 403 {
		t.Fatalf("unlinked tenant: %d, want 403", s)
	}
	linked[f.Tenant] = true
	if s := status(); s != 200 {
		t.Fatalf("linked tenant: %d, want 200", s)
	}
	down = errors.New("redis down")
	if s := status(); s != 503 {
		t.Fatalf("directory down: %d, want 503", s)
	}
}
