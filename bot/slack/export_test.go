package slack

import (
	"time"

	"github.com/slack-go/slack"
)

// ReadInviteFormForTest reads a submission's form as usher does (for fuzzing).
func ReadInviteFormForTest(ic *slack.InteractionCallback) (string, map[string]string) {
	f, errs := readInviteForm(ic.View.State)
	return f.command(), errs
}

// ParseLifecycle reads an install lifecycle delivery (for fuzzing).
func ParseLifecycle(b []byte) bool { _, ok := parseLifecycle(b); return ok }

// ParseUserEvent reads a team_join / user_change delivery (for fuzzing):
// the user, and whether it is one usher writes to.
func ParseUserEvent(b []byte) (id, email string, reachable, ok bool) {
	ev, ok := parseUserEvent(b)
	u := ev.Event.User
	return u.ID, u.Profile.Email, dirUser(u.ID, u.Profile.Email, u.Deleted, u.IsBot).Reachable, ok
}

// BuildWait is how long a queued delivery waits for a first build of the
// directory (DirectoryConfig.buildWait).
func BuildWait(c DirectoryConfig, since, until, now time.Time) time.Duration {
	return c.buildWait(since, until, now)
}
