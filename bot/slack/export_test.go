package slack

import "github.com/slack-go/slack"

// ReadInviteFormForTest reads a submission's form as usher does (for fuzzing).
func ReadInviteFormForTest(ic *slack.InteractionCallback) (string, map[string]string) {
	f, errs := readInviteForm(ic.View.State)
	return f.command(), errs
}

// ParseLifecycle reads an install lifecycle delivery (for fuzzing).
func ParseLifecycle(b []byte) bool { _, ok := parseLifecycle(b); return ok }
