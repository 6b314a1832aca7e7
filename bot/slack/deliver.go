package slack

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/slack-go/slack"

	"github.com/usher-chat/usher/bot/deliver"
	"github.com/usher-chat/usher/bot/outbox"
	"github.com/usher-chat/usher/handlers"
)

// job is the payload of a Slack outbox job. Kind "respond" answers a click
// or a modal through its response_url (replacing the clicked message, or
// ephemerally). Kind "dm" is what usher queued for people before messages
// went through the delivery router (bot/deliver): such a job, still in the
// outbox across a deploy, is handed to the router (legacyDM).
type job struct {
	Kind string `json:"kind"`
	Key  string `json:"key"` // unique per job: the message metadata that detects a repeat

	Message handlers.Message `json:"message"`

	// kind "dm" (queued by earlier versions only)
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

// legacyDM is a "dm" job as the router's job: the same key (so a post made
// before the deploy is found in the DM's history), the sender's Slack user
// and response_url as its origin, the recipient's user id as a hint.
func legacyDM(j job) deliver.Job {
	out := deliver.Job{Key: j.Key, Delivery: handlers.Delivery{To: j.To, Kind: j.Delivery, InvitationID: j.InvitationID,
		Message: j.Message, Sender: j.Sender, OnDelivered: j.OnDelivered, OnUnreachable: j.OnUnreachable}}
	if j.Sender != "" && (j.SenderUserID != "" || j.SenderURL != "") {
		out.Origin = deliver.Origin{Platform: Platform, Email: j.Sender, UserID: j.SenderUserID, ReplyURL: j.SenderURL}
	}
	if j.UserID != "" {
		out.Hint = deliver.Hint{Platform: Platform, UserID: j.UserID}
	}
	// A "dm" job without a sender was itself a notice to a sender (a
	// follow-up): it has no notice of its own.
	out.Followup = j.Sender == ""
	return out
}

// respondTarget is where an answer to a click goes.
type respondTarget struct {
	ResponseURL string `json:"response_url,omitempty"`
	Channel     string `json:"channel,omitempty"`
	TS          string `json:"ts,omitempty"`
	Ephemeral   bool   `json:"ephemeral,omitempty"`
	UserID      string `json:"user_id,omitempty"`
	// Team is the workspace the answer goes to (whose bot token posts it
	// when the response_url is used up); "" for the default token's.
	Team string `json:"team,omitempty"`
}

// metadataType is the event_type of the metadata on every message usher
// posts; its payload carries the job key.
const metadataType = "usher_message"

func newKey() string {
	var b [12]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func (a *App) add(ctx context.Context, o Org, j job, channel string) error {
	if j.Key == "" {
		j.Key = newKey()
	}
	raw, err := json.Marshal(j)
	if err != nil {
		return err
	}
	_, err = o.Queue.Add(ctx, outbox.Job{Platform: Platform, Channel: channel, Payload: raw})
	return err
}

// respond queues the answer to a click; if the queue is down it tries once
// directly, so the clicker is not left without an answer.
func (a *App) respond(ctx context.Context, o Org, t respondTarget, m handlers.Message, replace bool) {
	j := job{Kind: "respond", Target: t, Message: m, Replace: replace}
	if err := a.add(ctx, o, j, ""); err != nil {
		a.log.WarnContext(ctx, "slack: could not queue an answer; sending it directly", "err", err)
		go func() {
			ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			defer cancel()
			if err := a.dm.respond(ctx, j.Target, j.Message, j.Replace); err != nil {
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
		// Already classified by the platforms it went through.
		return a.cfg.Router.Resume(ctx, oj.Attempt, legacyDM(j))
	case "respond":
		err = a.dm.respond(ctx, j.Target, j.Message, j.Replace)
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

// responseURLUses is how often usher posts to one response_url: Slack allows
// 5 posts in 30 minutes; past that, chat.update or a DM.
const responseURLUses = 5
