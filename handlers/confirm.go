package handlers

import (
	"context"
	"fmt"
	"strings"

	"github.com/usher-chat/usher/handlers/org"
)

// A confirmation button carries what its prompt was decided on: the command
// plus --from STATE and --confirm (last: adapters know a confirming button by
// that suffix, bot/slack/render.go), where STATE is the part of the target
// the prompt described (a user's role, an invitation's role and workspaces). A
// click whose STATE is no longer the target's asks again from the fresh
// state instead of running a change nobody saw described. The comparison is
// made on the command's read, and the commit pins the version of that read
// (UserWrite.Version, InvitationWrite.Version), so the state cannot move
// between the check and the write: a concurrent change makes the commit fail
// and the command run again, which then finds the state moved and asks.
//
// --confirm typed by hand, without --from, is decided on fresh state as it
// always was.

// fromFlag is the hidden flag a confirmation button adds (verbs.go).
const fromFlag = "from"

// confirmation is where a risky command stands against state, the target's
// state now: confirmed, or not, and when a button's prompt described another
// state, which (was).
func (c *call) confirmation(state string) (confirmed bool, was string) {
	if !c.confirmed() {
		return false, ""
	}
	if from := c.cmd.Flag(fromFlag); c.cmd.Has(fromFlag) && from != state {
		return false, from
	}
	return true, ""
}

// statePrompt is the confirmation step of a risky command decided on state:
// the same command behind a button that runs cmd --from state --confirm. When the click that led here described another
// state (was), the prompt says what moved and replaces the stale one.
func statePrompt(cmd, state, was, who, question, yes string, style Style) Reply {
	r := Reply{Message: Message{
		Tone: ToneWarning,
		Text: question,
		Buttons: []Button{
			{Label: yes, Command: cmd + " --" + fromFlag + " " + quote(state) + " --confirm", Style: style},
			{Label: "Cancel", Command: "cancel"},
		},
	}}
	if was != "" {
		r.Text = fmt.Sprintf("%s is now %s, not %s. %s", who, showState(state), showState(was), question)
		r.Replace, r.Code = true, org.CodeConflict
	}
	return r
}

// commandText renders the call's verb and arguments back as a command.
func commandText(c *call) string {
	parts := []string{c.cmd.Verb}
	for _, a := range c.cmd.Args {
		parts = append(parts, quote(a))
	}
	return strings.Join(parts, " ")
}

// invitationState is what a prompt about inv describes: its role and
// workspaces ("member" or "member/ml:editor"), without spaces so that the
// command stays one word per argument.
func invitationState(inv *org.Invitation) string {
	if len(inv.Workspaces) == 0 {
		return string(inv.Role)
	}
	return string(inv.Role) + "/" + inv.Workspaces.Encode()
}

// showState renders a state for people: "member with ml:editor".
func showState(state string) string {
	role, ws, ok := strings.Cut(state, "/")
	if !ok {
		return state
	}
	return role + " with " + strings.ReplaceAll(ws, ",", ", ")
}

// cancel answers the Cancel button of a confirmation step.
func (s *Service) cancel(context.Context, *call) (Reply, error) {
	return Reply{Replace: true, Message: Message{Tone: ToneInfo, Text: "Cancelled; nothing changed."}}, nil
}
