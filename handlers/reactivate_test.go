package handlers_test

import (
	"strings"
	"testing"

	"github.com/usher-chat/usher/handlers/org"
)

// Reactivation states the role the person has now, with "again" only when
// it is the role they had.
func TestReactivationStatesTheActualRole(t *testing.T) {
	const m = "m@example.com"
	e := newEnv(t)
	e.join(m, org.RoleMember)
	e.ok(boss, "deactivate "+m+" --confirm")
	e.ok(boss, "role "+m+" admin --confirm")
	r := e.ok(boss, "activate "+m+" --confirm")
	if len(r.Deliveries) != 1 || strings.Contains(r.Deliveries[0].Message.Text, "again") || !strings.Contains(r.Deliveries[0].Message.Text, "you are now admin (you were member before)") {
		t.Errorf("reactivated after a role change: %+v", r.Deliveries)
	}
	e.ok(boss, "deactivate "+m+" --confirm")
	r = e.ok(boss, "activate "+m+" --confirm")
	if len(r.Deliveries) != 1 || !strings.Contains(r.Deliveries[0].Message.Text, "you are admin again") {
		t.Errorf("reactivated with the same role: %+v", r.Deliveries)
	}
}
