package slack

import (
	"context"
	"strings"
	"time"

	"github.com/slack-go/slack"

	"github.com/usher-chat/usher/handlers"
	"github.com/usher-chat/usher/handlers/org"
)

// Command answers a slash command. The answer is the HTTP response (or the
// Socket Mode ack): an ephemeral message, or nil when a modal was opened
// instead. Anything slow (messages to other people) goes to the outbox.
func (a *App) Command(ctx context.Context, sc slack.SlashCommand) *slack.Msg {
	deadline := time.Now().Add(a.budget)
	o, refused := a.serving(ctx, "command", sc.TeamID, sc.EnterpriseID)
	if refused != nil {
		return Ephemeral(*refused)
	}
	text, mentions := Unwrap(strings.TrimSpace(sc.Text))
	text = strings.TrimSpace(text)
	if verb := strings.TrimPrefix(sc.Command, "/"); verb == "invite" {
		// /invite is a shortcut for /usher invite.
		text = strings.TrimSpace("invite " + text)
	}
	if text == "" {
		text = "help"
	}
	if text == "invite" && sc.TriggerID != "" {
		// The trigger lives 3 seconds, once: open the modal before anything else.
		return a.openInviteModal(ctx, o, sc)
	}
	reply := a.within(ctx, deadline, text, func(ctx context.Context) handlers.Reply {
		return a.act(ctx, o, sc.TeamID, sc.UserID, text, mentions, replyContext{responseURL: sc.ResponseURL, channel: sc.ChannelID}, nil)
	})
	return Ephemeral(reply.Message)
}

// Interaction answers a click or a modal submission. For clicks the answer
// is empty and the outcome goes through response_url (queued); a modal
// submission may answer with field errors.
func (a *App) Interaction(ctx context.Context, ic *slack.InteractionCallback) any {
	o, refused := a.serving(ctx, string(ic.Type), firstNonEmpty(ic.Team.ID, ic.User.TeamID), ic.Enterprise.ID)
	if refused != nil {
		if ic.Type == slack.InteractionTypeViewSubmission {
			return slack.NewErrorsViewSubmissionResponse(map[string]string{blockEmails: refused.Text})
		}
		// A click: usher posted no button there, so there is nobody to
		// answer; nothing is done.
		return nil
	}
	switch ic.Type {
	case slack.InteractionTypeBlockActions:
		a.click(ctx, o, ic)
		return nil
	case slack.InteractionTypeViewSubmission:
		if ic.View.CallbackID == inviteCallback {
			if r := a.submitInvite(ctx, o, ic); r != nil {
				return r
			}
		}
		return nil
	}
	return nil
}

// clickWindow is how long an identical click is ignored (a double click, or
// Slack delivering the same payload twice).
const clickWindow = 10 * time.Second

func (a *App) click(ctx context.Context, o Org, ic *slack.InteractionCallback) {
	deadline := time.Now().Add(a.budget)
	if len(ic.ActionCallback.BlockActions) == 0 {
		return
	}
	act := ic.ActionCallback.BlockActions[0]
	if !strings.HasPrefix(act.ActionID, actionPrefix) || act.Value == "" {
		return
	}
	team := firstNonEmpty(ic.Team.ID, ic.User.TeamID)
	first, err := a.state.SetNX(ctx, "click", hashKey(team, ic.User.ID, ic.Container.ChannelID, ic.Container.MessageTs, act.ActionID, act.Value), clickWindow)
	if err == nil && !first {
		a.log.InfoContext(ctx, "slack: repeated click ignored", "user", ic.User.ID, "action", act.ActionID)
		return
	}
	target := respondTarget{ResponseURL: ic.ResponseURL, Channel: firstNonEmpty(ic.Container.ChannelID, ic.Channel.ID),
		TS: ic.Container.MessageTs, Ephemeral: ic.Container.IsEphemeral, UserID: ic.User.ID, Team: team}
	answer := func(reply handlers.Reply) {
		// A click refused as someone else's (an invitation for bob clicked by
		// carol) answers the clicker alone and leaves the message as it is.
		replace := reply.Replace && reply.Code != org.CodeForbidden && reply.Code != org.CodeUnavailable
		a.respond(context.WithoutCancel(ctx), o, target, reply.Message, replace)
	}
	// The button's value is the command; nothing else in the payload is trusted.
	reply := a.within(ctx, deadline, act.Value, func(ctx context.Context) handlers.Reply {
		return a.act(ctx, o, team, ic.User.ID, act.Value, nil, replyContext{responseURL: ic.ResponseURL, channel: target.Channel}, answer)
	})
	if reply.Code == slow.Code && reply.Text == slow.Text {
		// Not done in time: say so now; the outcome follows when it is.
		a.respond(ctx, o, target, slow.Message, false)
	}
}
