package teams

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/usher-chat/usher/bot/deliver"
	"github.com/usher-chat/usher/bot/outbox"
	"github.com/usher-chat/usher/handlers"
	"github.com/usher-chat/usher/handlers/org"
)

// Proactive delivery. Teams cannot message a user by email: usher can only
// write to someone who installed the bot or talked to it (their stored
// conversation reference). Everyone else is not found here, and the router
// tries the next platform or tells the sender.

// Where is what an invitation's delivery record says for a Teams chat.
const Where = "teams chat"

// Chat is Teams as a delivery platform (bot/deliver.Platform): a person is
// found by email through the profile usher cached when they talked to the
// bot, and written to in their personal chat with it.
type Chat struct {
	Connector *Connector
	State     State
	// StateOf, when set, is organization orgID's state (where its people's
	// conversation references are), for a deployment of several; State is
	// then not used.
	StateOf func(orgID string) (State, error)
	// Served, when set, says whether organization orgID still serves Teams
	// tenant: a person whose conversation is in a tenant it no longer
	// serves (usher was removed from it, or an operator moved it) is not
	// found here, so nothing goes to that tenant from this organization.
	Served func(ctx context.Context, orgID, tenant string) (bool, error)
	// Budgets, when set, are the Bot Connector's rate limits shared by
	// every replica (storage.Budgets); Limits, the limits kept to (default
	// DefaultLimits). Without them every call goes at once, and a 429 only
	// sends its job back to the outbox.
	Budgets Budgets
	Limits  *Limits
	Log     *slog.Logger
}

func (c *Chat) pace() pacer {
	l := DefaultLimits()
	if c.Limits != nil {
		l = *c.Limits
	}
	return pacer{budgets: c.Budgets, limits: l, log: c.log()}
}

// state is the Teams state a recipient of organization orgID is kept in.
func (c *Chat) state(orgID string) (State, error) {
	if c.StateOf == nil {
		return c.State, nil
	}
	return c.StateOf(orgID)
}

func (c *Chat) log() *slog.Logger {
	if c.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return c.Log
}

// Name is the platform's name.
func (c *Chat) Name() string { return Platform }

// Find looks the person up by email (or by the Entra object id the origin
// knows); someone who never talked to usher, blocks it or uninstalled it is
// not found.
func (c *Chat) Find(ctx context.Context, orgID org.ID, email string, hint deliver.Hint) (deliver.Recipient, bool, error) {
	st, err := c.state(string(orgID))
	if err != nil {
		return deliver.Recipient{}, false, err
	}
	// One read: the email's object id, its unreachable mark and its
	// reference (a delivery of a bulk invitation makes this look-up for
	// each invitee).
	aad, blocked, raw, err := st.Recipient(ctx, email, hint.UserID)
	if err != nil {
		return deliver.Recipient{}, false, fmt.Errorf("teams: look up recipient: %w", err)
	}
	if aad == "" {
		return deliver.Recipient{}, false, nil
	}
	if blocked {
		c.log().InfoContext(ctx, "teams: recipient is marked unreachable")
		return deliver.Recipient{}, false, nil
	}
	if raw == nil {
		return deliver.Recipient{}, false, nil
	}
	var ref Reference
	if err := json.Unmarshal(raw, &ref); err != nil {
		return deliver.Recipient{}, false, fmt.Errorf("decode reference: %w", err)
	}
	if c.Served != nil && ref.Tenant != "" {
		if ok, err := c.Served(ctx, string(orgID), ref.Tenant); err != nil {
			return deliver.Recipient{}, false, fmt.Errorf("teams: is the tenant served: %w", err)
		} else if !ok {
			c.log().InfoContext(ctx, "teams: recipient not reached: usher was removed from their tenant, or it is no longer this organization's",
				"org", string(orgID), "tenant", ref.Tenant)
			return deliver.Recipient{}, false, nil
		}
	}
	// Workspace: the organization whose state holds the conversation.
	return deliver.Recipient{Email: email, UserID: aad, Workspace: string(orgID)}, true, nil
}

// Post sends the card to the person's personal chat with the bot.
func (c *Chat) Post(ctx context.Context, r deliver.Recipient, p deliver.Post) (deliver.Posted, error) {
	st, err := c.state(r.Workspace)
	if err != nil {
		return deliver.Posted{}, err
	}
	ref, err := reference(ctx, st, r.UserID)
	if err != nil {
		return deliver.Posted{}, err
	}
	if ref == nil {
		return deliver.Posted{}, fmt.Errorf("teams: no conversation reference: %w", deliver.ErrUnreachable)
	}
	orgID := org.ID(r.Workspace)
	pace := c.pace()
	conv := ref.Personal
	if conv == "" {
		err = pace.call(ctx, orgID, ref.Tenant, pace.limits.thread(ref.Tenant, "new", ref.UserID), func() (err error) {
			conv, err = personal(ctx, c.Connector, st, c.log(), ref)
			return err
		})
	}
	id := ""
	if err == nil {
		err = pace.call(ctx, orgID, ref.Tenant, pace.limits.thread(ref.Tenant, "conv", conv), func() (err error) {
			id, err = c.Connector.Send(ctx, ref.ServiceURL, conv, RenderMessage(p.Message).Activity())
			return err
		})
	}
	if err != nil {
		return deliver.Posted{}, c.classify(ctx, st, r.UserID, err)
	}
	return deliver.Posted{Platform: Platform, Where: Where, Channel: conv, ID: id, UserID: r.UserID, Workspace: r.Workspace}, nil
}

// classify maps a connector failure to the router's and the outbox's rules.
func (c *Chat) classify(ctx context.Context, st State, aad string, err error) error {
	var ae *APIError
	if !errors.As(err, &ae) {
		return err // network, timeout, token endpoint: retry with backoff
	}
	switch {
	case ae.Status == http.StatusTooManyRequests:
		return &outbox.RetryAfter{Wait: ae.RetryAfter}
	case ae.Status == http.StatusForbidden && (ae.Code == "MessageWritesBlocked" || ae.Code == "ConversationBlockedByUser"):
		c.log().WarnContext(ctx, "teams: recipient blocks the bot; marked unreachable", "code", ae.Code)
		if err := st.MarkUnreachable(ctx, aad, ae.Code); err != nil {
			c.log().WarnContext(ctx, "teams: could not mark unreachable", "err", err)
		}
		return fmt.Errorf("%w: %w", ae, deliver.ErrUnreachable)
	case ae.Status == 0, ae.Status == http.StatusNotFound, ae.Status == http.StatusForbidden, ae.Status == http.StatusBadRequest:
		return fmt.Errorf("%w: %w", ae, deliver.ErrUnreachable)
	}
	return err
}

// Update replaces a card usher posted.
func (c *Chat) Update(ctx context.Context, at deliver.Posted, m handlers.Message) error {
	st, err := c.state(at.Workspace)
	if err != nil {
		return err
	}
	ref, err := reference(ctx, st, at.UserID)
	if err != nil {
		return err
	}
	if ref == nil || at.Channel == "" || at.ID == "" {
		return &outbox.Permanent{Err: errors.New("teams update: no conversation reference or message id")}
	}
	pace := c.pace()
	if err := pace.call(ctx, org.ID(at.Workspace), ref.Tenant, pace.limits.thread(ref.Tenant, "conv", at.Channel), func() error {
		return c.Connector.Update(ctx, ref.ServiceURL, at.Channel, at.ID, RenderMessage(m).Activity())
	}); err != nil {
		return c.classify(ctx, st, at.UserID, err)
	}
	return nil
}

// legacyDelivery is the payload Teams jobs had before deliveries went
// through the router: handlers.Delivery encoded with Go's field names. It is
// a copy, frozen, so that the reply model may change without stranding jobs
// queued by an earlier version.
type legacyDelivery struct {
	To            string
	Kind          handlers.DeliveryKind
	InvitationID  string
	Message       handlers.Message
	Sender        string
	OnDelivered   *handlers.Message
	OnUnreachable *handlers.Message
}

// Send is the outbox's sender for Platform "teams": jobs queued by earlier
// versions, handed to the router (every platform may take them now).
func (b *Bot) Send(ctx context.Context, j outbox.Job) error {
	var d legacyDelivery
	if err := json.Unmarshal(j.Payload, &d); err != nil {
		return &outbox.Permanent{Err: fmt.Errorf("teams job %s: decode delivery: %w", j.ID, err)}
	}
	if d.To == "" {
		return &outbox.Permanent{Err: fmt.Errorf("teams job %s: delivery without a recipient", j.ID)}
	}
	// The key is the payload's hash: the same on every retry (a retried job
	// comes back under a new stream id), and an invitation's carries its link.
	sum := sha256.Sum256(j.Payload)
	return b.Router.Resume(ctx, j.Attempt, deliver.Job{Key: "teams-" + hex.EncodeToString(sum[:12]), Followup: d.Sender == "",
		Delivery: handlers.Delivery{To: d.To, Kind: d.Kind, InvitationID: d.InvitationID, Message: d.Message,
			Sender: d.Sender, OnDelivered: d.OnDelivered, OnUnreachable: d.OnUnreachable}})
}
