package slack

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/slack-go/slack"

	"github.com/usher-chat/usher/bot/outbox"
	"github.com/usher-chat/usher/handlers"
	"github.com/usher-chat/usher/handlers/org"
)

// job is the payload of a Slack outbox job. Kind "dm" sends Message to a
// person's direct message (found by email, or by user id when known) and
// then tells the sender; kind "respond" answers a click or a modal through
// its response_url (replacing the clicked message, or ephemerally).
type job struct {
	Kind string `json:"kind"`
	Key  string `json:"key"` // unique per job: the message metadata that detects a repeat

	Message handlers.Message `json:"message"`

	// kind "dm"
	To            string                `json:"to,omitempty"`
	UserID        string                `json:"user_id,omitempty"`
	Delivery      handlers.DeliveryKind `json:"delivery,omitempty"`
	InvitationID  string                `json:"invitation_id,omitempty"`
	Sender        string                `json:"sender,omitempty"`
	SenderUserID  string                `json:"sender_user_id,omitempty"`
	SenderURL     string                `json:"sender_response_url,omitempty"`
	OnDelivered   *handlers.Message     `json:"on_delivered,omitempty"`
	OnUnreachable *handlers.Message     `json:"on_unreachable,omitempty"`

	// kind "respond"
	Target  respondTarget `json:"target,omitzero"`
	Replace bool          `json:"replace,omitempty"`
}

// respondTarget is where an answer to a click goes.
type respondTarget struct {
	ResponseURL string `json:"response_url,omitempty"`
	Channel     string `json:"channel,omitempty"`
	TS          string `json:"ts,omitempty"`
	Ephemeral   bool   `json:"ephemeral,omitempty"`
	UserID      string `json:"user_id,omitempty"`
}

// metadataType is the event_type of the metadata on every message usher
// posts; its payload carries the job key.
const metadataType = "usher_message"

func newKey() string {
	var b [12]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// paceChannel is the outbox pacing key of a job: Slack limits messages per
// conversation, so a DM is paced per recipient. A response_url answer posts
// to no conversation of ours and is not paced; neither is a job whose
// recipient is unknown (an empty key would make every such job in the org
// share one slot a second).
func paceChannel(j job) string {
	if j.Kind == "respond" {
		return ""
	}
	if id := firstNonEmpty(j.UserID, j.To); id != "" {
		return "slack:" + id
	}
	return ""
}

func (a *App) add(ctx context.Context, j job, channel string) error {
	raw, err := payload(j)
	if err != nil {
		return err
	}
	_, err = a.queue.Add(ctx, outbox.Job{Platform: Platform, Channel: channel, Payload: raw})
	return err
}

// payload is j as an outbox job's payload, with its key drawn if unset.
func payload(j job) ([]byte, error) {
	if j.Key == "" {
		j.Key = newKey()
	}
	return json.Marshal(j)
}

// enqueueDeliveries queues a reply's messages for other people.
func (a *App) enqueueDeliveries(ctx context.Context, ds []handlers.Delivery, actor org.Identity, rc replyContext) error {
	var errs []error
	for _, d := range ds {
		j := deliveryJob(d, actor, rc)
		if err := a.add(ctx, j, paceChannel(j)); err != nil {
			errs = append(errs, fmt.Errorf("queue %s message: %w", d.Kind, err))
		}
	}
	return errors.Join(errs...)
}

// commitOutbox encodes deliveries as Slack outbox jobs for a command to
// queue in its own commit (handlers.Request.Outbox).
type commitOutbox struct {
	actor org.Identity
	rc    replyContext
}

func (o commitOutbox) Encode(ds []handlers.Delivery) ([]org.QueuedMessage, error) {
	out := make([]org.QueuedMessage, 0, len(ds))
	for _, d := range ds {
		j := deliveryJob(d, o.actor, o.rc)
		raw, err := payload(j)
		if err != nil {
			return nil, fmt.Errorf("encode %s message: %w", d.Kind, err)
		}
		out = append(out, org.QueuedMessage{Platform: Platform, Channel: paceChannel(j), Payload: raw})
	}
	return out, nil
}

// deliveryJob is the job for one delivery. When the sender is the actor, the
// sender's notices go back where they typed.
func deliveryJob(d handlers.Delivery, actor org.Identity, rc replyContext) job {
	j := dmJob(d)
	if actor.Platform == "slack" && d.Sender != "" && d.Sender == actor.Email {
		j.SenderUserID, j.SenderURL = actor.UserID, rc.responseURL
	}
	if actor.Platform == "slack" && d.To == actor.Email {
		j.UserID = actor.UserID
	}
	return j
}

func dmJob(d handlers.Delivery) job {
	return job{Kind: "dm", To: d.To, Delivery: d.Kind, InvitationID: d.InvitationID, Message: d.Message,
		Sender: d.Sender, OnDelivered: d.OnDelivered, OnUnreachable: d.OnUnreachable}
}

// Deliver queues deliveries that did not come from a Slack command (the
// scheduler's notices); it is usher serve's delivery hook.
func (a *App) Deliver(ctx context.Context, ds []handlers.Delivery) error {
	return a.enqueueDeliveries(ctx, ds, org.Identity{}, replyContext{})
}

// respond queues the answer to a click; if the queue is down it tries once
// directly, so the clicker is not left without an answer.
func (a *App) respond(ctx context.Context, t respondTarget, m handlers.Message, replace bool) {
	j := job{Kind: "respond", Target: t, Message: m, Replace: replace}
	if err := a.add(ctx, j, ""); err != nil {
		a.log.WarnContext(ctx, "slack: could not queue an answer; sending it directly", "err", err)
		go func() {
			ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			defer cancel()
			if err := a.sendRespond(ctx, j); err != nil {
				a.log.WarnContext(ctx, "slack: direct answer failed", "err", err)
			}
		}()
	}
}

// Send is the outbox sender for Slack jobs.
func (a *App) Send(ctx context.Context, oj outbox.Job) error {
	var j job
	if err := json.Unmarshal(oj.Payload, &j); err != nil {
		return &outbox.Permanent{Err: fmt.Errorf("slack job %s: bad payload: %w", oj.ID, err)}
	}
	var err error
	switch j.Kind {
	case "dm":
		err = a.sendDM(ctx, oj, j)
	case "respond":
		err = a.sendRespond(ctx, j)
	default:
		return &outbox.Permanent{Err: fmt.Errorf("slack job %s: unknown kind %q", oj.ID, j.Kind)}
	}
	return classify(err)
}

// classify maps Web API failures to the outbox's retry rules.
func classify(err error) error {
	if err == nil {
		return nil
	}
	var rl *slack.RateLimitedError
	if errors.As(err, &rl) {
		return &outbox.RetryAfter{Wait: max(rl.RetryAfter, time.Second)}
	}
	switch slackErr(err) {
	case "channel_not_found", "not_in_channel", "is_archived", "invalid_auth", "account_inactive", "token_revoked",
		"no_permission", "missing_scope", "cannot_dm_bot", "user_not_found", "user_disabled", "messages_tab_disabled",
		"invalid_blocks", "msg_too_long", "restricted_action", "expired_url", "used_url":
		return &outbox.Permanent{Err: err}
	}
	var perm *outbox.Permanent
	if errors.As(err, &perm) {
		return err
	}
	return err
}

// sendDM delivers one message to a person's DM, then tells the sender.
func (a *App) sendDM(ctx context.Context, oj outbox.Job, j job) error {
	userID := j.UserID
	if userID == "" {
		u, err := a.api.GetUserByEmailContext(ctx, j.To)
		switch {
		case slackErr(err) == "users_not_found":
			return a.unreachable(ctx, j)
		case err != nil:
			return fmt.Errorf("slack users.lookupByEmail: %w", err)
		case u.Deleted || u.IsBot:
			return a.unreachable(ctx, j)
		}
		userID = u.ID
	}
	ch, _, _, err := a.api.OpenConversationContext(ctx, &slack.OpenConversationParameters{Users: []string{userID}, ReturnIM: true})
	if err != nil {
		if code := slackErr(err); code == "user_not_found" || code == "user_disabled" || code == "cannot_dm_bot" {
			return a.unreachable(ctx, j)
		}
		return fmt.Errorf("slack conversations.open: %w", err)
	}
	posted := false
	if oj.Attempt > 0 {
		// A retried or reclaimed job may have been posted before the crash or
		// failure that brought it back: look for its key before posting again.
		if posted, err = a.alreadyPosted(ctx, ch.ID, j.Key); err != nil {
			return err
		}
	}
	if !posted {
		blocks, text := Render(j.Message)
		_, _, err = a.api.PostMessageContext(ctx, ch.ID, slack.MsgOptionText(text, false), slack.MsgOptionBlocks(blocks...),
			slack.MsgOptionMetadata(slack.SlackMetadata{EventType: metadataType, EventPayload: map[string]any{"key": j.Key}}))
		if err != nil {
			return fmt.Errorf("slack chat.postMessage: %w", err)
		}
	}
	if j.Delivery == handlers.DeliverInvitation && j.InvitationID != "" {
		if err := a.svc.RecordDelivery(ctx, j.InvitationID, "slack direct message"); err != nil {
			return fmt.Errorf("record delivery of %s: %w", j.InvitationID, err)
		}
	}
	if j.OnDelivered != nil && j.Sender != "" {
		return a.tellSender(ctx, j, *j.OnDelivered)
	}
	return nil
}

// unreachable handles a person who is not in this Slack: the sender is told
// (with the link to forward, when they may see it).
func (a *App) unreachable(ctx context.Context, j job) error {
	if j.Delivery == handlers.DeliverInvitation && j.InvitationID != "" && j.Sender != "" && j.OnUnreachable != nil {
		if err := a.svc.RecordDelivery(ctx, j.InvitationID, "shown to "+j.Sender); err != nil {
			return fmt.Errorf("record delivery of %s: %w", j.InvitationID, err)
		}
	}
	if j.OnUnreachable == nil || j.Sender == "" {
		a.log.InfoContext(ctx, "slack: recipient not in Slack; nothing to tell", "kind", j.Delivery)
		return nil
	}
	return a.tellSender(ctx, j, *j.OnUnreachable)
}

// tellSender queues the follow-up for the sender as its own job (so that a
// retry of this one does not repeat it): ephemerally where they typed the
// command when possible, else in their DM.
func (a *App) tellSender(ctx context.Context, j job, m handlers.Message) error {
	// A retried job may already have queued this follow-up (marked after
	// queueing: a crash in between may repeat it, never lose it).
	if _, found, err := a.state.Get(ctx, "told", j.Key); err == nil && found {
		return nil
	}
	next := job{Kind: "dm", To: j.Sender, UserID: j.SenderUserID, Delivery: handlers.DeliverNotice, Message: m, Key: j.Key + "-s"}
	if j.SenderURL != "" && j.Delivery != handlers.DeliverPassword {
		next = job{Kind: "respond", Key: j.Key + "-s", Message: m,
			Target: respondTarget{ResponseURL: j.SenderURL, UserID: j.SenderUserID, Ephemeral: true}}
	}
	if err := a.add(ctx, next, paceChannel(next)); err != nil {
		return err
	}
	if err := a.state.Set(ctx, "told", j.Key, []byte("1"), 24*time.Hour); err != nil {
		a.log.WarnContext(ctx, "slack: could not mark the sender as told", "err", err)
	}
	return nil
}

// alreadyPosted looks for a message carrying key among the conversation's
// latest messages.
func (a *App) alreadyPosted(ctx context.Context, channel, key string) (bool, error) {
	h, err := a.api.GetConversationHistoryContext(ctx, &slack.GetConversationHistoryParameters{ChannelID: channel, Limit: 50, IncludeAllMetadata: true})
	if err != nil {
		return false, fmt.Errorf("slack conversations.history: %w", err)
	}
	for _, m := range h.Messages {
		if m.Metadata.EventType == metadataType && m.Metadata.EventPayload["key"] == key {
			return true, nil
		}
	}
	return false, nil
}

// responseURLUses is how often usher posts to one response_url: Slack allows
// 5 posts in 30 minutes; past that, chat.update or a DM.
const responseURLUses = 5

// sendRespond answers through response_url, or the Web API once it is used up.
func (a *App) sendRespond(ctx context.Context, j job) error {
	t := j.Target
	blocks, text := Render(j.Message)
	if t.ResponseURL != "" {
		n, err := a.state.Incr(ctx, "rurl", hashKey(t.ResponseURL), 30*time.Minute)
		if err != nil || n <= responseURLUses {
			msg := &slack.WebhookMessage{Text: text, Blocks: &slack.Blocks{BlockSet: blocks}, ReplaceOriginal: j.Replace}
			if !j.Replace {
				msg.ResponseType = slack.ResponseTypeEphemeral
			}
			err := slack.PostWebhookCustomHTTPContext(ctx, t.ResponseURL, a.http, msg)
			if err == nil {
				return nil
			}
			var se slack.StatusCodeError
			if !errors.As(err, &se) || se.Code != http.StatusNotFound {
				// A response_url is a credential for 30 minutes: keep it out of logs.
				var ue *url.Error
				if errors.As(err, &ue) {
					err = ue.Err
				}
				return fmt.Errorf("slack response_url: %w", err)
			}
			// 404: the url expired; fall through to the Web API.
		}
	}
	opts := []slack.MsgOption{slack.MsgOptionText(text, false), slack.MsgOptionBlocks(blocks...)}
	if j.Replace && t.Channel != "" && t.TS != "" && !t.Ephemeral {
		_, _, _, err := a.api.UpdateMessageContext(ctx, t.Channel, t.TS, opts...)
		if err != nil {
			return fmt.Errorf("slack chat.update: %w", err)
		}
		return nil
	}
	if t.UserID == "" {
		return &outbox.Permanent{Err: errors.New("slack answer with nowhere to go")}
	}
	ch, _, _, err := a.api.OpenConversationContext(ctx, &slack.OpenConversationParameters{Users: []string{t.UserID}, ReturnIM: true})
	if err != nil {
		return fmt.Errorf("slack conversations.open: %w", err)
	}
	if _, _, err := a.api.PostMessageContext(ctx, ch.ID, opts...); err != nil {
		return fmt.Errorf("slack chat.postMessage: %w", err)
	}
	return nil
}
