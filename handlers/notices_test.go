package handlers_test

import (
	"testing"
	"time"

	"github.com/usher-chat/usher/handlers"
	"github.com/usher-chat/usher/handlers/org"
)

func deliveredTo(ds []handlers.Delivery, email string) bool {
	for _, d := range ds {
		if d.To == email {
			return true
		}
	}
	return false
}

// A deactivated user is told nothing: not that an invitation they sent
// expired, nor that their role changed.
func TestDeactivatedUserGetsNoNotices(t *testing.T) {
	const m, x = "m@example.com", "x@example.com"
	e := newEnv(t)
	e.ok(boss, "settings anyone-can-invite on")
	e.join(m, org.RoleMember)
	id, _ := e.invite(m, x)
	e.invite(m, "y@example.com") // expired by the sweep
	e.ok(boss, "deactivate "+m+" --confirm")
	if r := e.ok(boss, "role "+m+" viewer --confirm"); deliveredTo(r.Deliveries, m) {
		t.Errorf("role change told the deactivated %s: %+v", m, r.Deliveries)
	}
	e.clock.Advance(8 * 24 * time.Hour)
	if r := e.run(x, "accept "+id); deliveredTo(r.Deliveries, m) {
		t.Errorf("expiry told the deactivated inviter: %+v", r.Deliveries)
	}
	if ds := e.sweep(); deliveredTo(ds, m) {
		t.Errorf("the sweep told the deactivated inviter: %+v", ds)
	}
}
