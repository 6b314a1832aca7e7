package main

import (
	"strings"
	"testing"
	"time"
)

// TestTeamsRate: TEAMS_RATE is a factor of Microsoft's published limits
// (the tenant's second and every thread window shrink by it), or off; a
// bad value is a clear configuration error.
func TestTeamsRate(t *testing.T) {
	env := func(v string) func(string) string {
		return func(k string) string {
			if k == "TEAMS_RATE" {
				return v
			}
			return ""
		}
	}
	for _, v := range []string{"", "1"} {
		l, off, err := teamsRate(env(v))
		if err != nil || off || l.Tenant.Period != time.Second || l.Tenant.Ops != 50 {
			t.Fatalf("TEAMS_RATE=%q: %+v off=%v %v", v, l.Tenant, off, err)
		}
	}
	l, off, err := teamsRate(env("4"))
	if err != nil || off || l.Tenant.Period != 250*time.Millisecond || l.Thread[3].Period != 15*time.Minute {
		t.Fatalf("TEAMS_RATE=4: %+v off=%v %v", l, off, err)
	}
	if _, off, err := teamsRate(env("off")); err != nil || !off {
		t.Fatalf("TEAMS_RATE=off: off=%v %v", off, err)
	}
	for _, v := range []string{"fast", "0", "-1", "5000"} {
		if _, _, err := teamsRate(env(v)); err == nil || !strings.Contains(err.Error(), "TEAMS_RATE") {
			t.Fatalf("TEAMS_RATE=%q: %v", v, err)
		}
	}
}
