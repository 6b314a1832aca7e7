package handlers_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/usher-chat/usher/storage/redistest"
)

// TestReminderCountWhenExpiryComesFirst: with a 5-day expiry, the third
// reminder (+6d) is never planned, so the reminders say "1 of 2" and "2 of 2.
// This is the last reminder", not "2 of 3. This is the last reminder".
func TestReminderCountWhenExpiryComesFirst(t *testing.T) {
	e := newSchedEnv(t, redistest.Shared(t).Client(t), nil)
	e.ok(boss, `settings reminder-schedule "0 9 * * *"`)
	e.ok(boss, "settings invite-expiry 5d")
	id, _ := e.invite(boss, "bob@example.com")
	if err := e.svc.RecordDelivery(context.Background(), id, "slack:dm"); err != nil {
		t.Fatal(err)
	}
	for _, step := range []struct {
		at   time.Duration
		want string
	}{
		{2 * day, "Reminder 1 of 2. Declining stops the reminders."},
		{4 * day, "Reminder 2 of 2. This is the last reminder."},
	} {
		e.at(step.at)
		rs := reminders(e.sweep())
		if len(rs) != 1 {
			t.Fatalf("at +%v: %d reminders, want 1", step.at, len(rs))
		}
		if f := rs[0].Message.Footer; !strings.HasPrefix(f, step.want) {
			t.Errorf("at +%v the footer is %q, want it to start %q", step.at, f, step.want)
		}
	}
	e.at(5 * day)
	if rs := reminders(e.sweep()); len(rs) != 0 {
		t.Errorf("at the expiry: %d more reminders", len(rs))
	}
}
