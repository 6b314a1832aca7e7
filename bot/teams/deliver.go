package teams

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/usher-chat/usher/bot/outbox"
	"github.com/usher-chat/usher/handlers"
)

// Proactive delivery. Teams cannot message a user by email: usher can only
// write to someone who installed the bot or talked to it (their stored
// conversation reference). Everyone else is "unreachable", and the sender is
// told privately (with the link to forward, for an invitation).

// Where is what an invitation's delivery record says for a Teams chat.
const Where = "teams chat"

// Enqueue puts deliveries in the durable outbox. The payload is the
// delivery itself; the card is rendered when it is sent.
func (b *Bot) Enqueue(ctx context.Context, ds []handlers.Delivery) error {
	for _, d := range ds {
		payload, err := json.Marshal(d)
		if err != nil {
			return fmt.Errorf("teams: encode delivery: %w", err)
		}
		if _, err := b.Queue.Add(ctx, outbox.Job{Platform: Platform, Channel: "teams:" + strings.ToLower(d.To), Payload: payload}); err != nil {
			return fmt.Errorf("teams: queue delivery to %s: %w", d.To, err)
		}
	}
	return nil
}

// Send is the outbox's sender for Platform "teams".
func (b *Bot) Send(ctx context.Context, j outbox.Job) error {
	var d handlers.Delivery
	if err := json.Unmarshal(j.Payload, &d); err != nil {
		return &outbox.Permanent{Err: fmt.Errorf("decode delivery: %w", err)}
	}
	log := b.log().With("job", j.ID, "kind", string(d.Kind), "invitation", d.InvitationID)
	aad, err := b.State.UserByEmail(ctx, d.To)
	if err != nil {
		return err
	}
	if aad == "" {
		log.Info("teams: recipient never talked to usher")
		return b.unreachable(ctx, d)
	}
	if blocked, err := b.State.Unreachable(ctx, aad); err != nil {
		return err
	} else if blocked {
		log.Info("teams: recipient is marked unreachable")
		return b.unreachable(ctx, d)
	}
	ref, err := b.reference(ctx, aad)
	if err != nil {
		return err
	}
	if ref == nil {
		return b.unreachable(ctx, d)
	}
	conv, err := b.personal(ctx, ref)
	if err == nil {
		_, err = b.Connector.Send(ctx, ref.ServiceURL, conv, RenderMessage(d.Message).Activity())
	}
	if err != nil {
		var ae *APIError
		if !errors.As(err, &ae) {
			return err // network, timeout, token endpoint: retry with backoff
		}
		switch {
		case ae.Status == http.StatusTooManyRequests:
			return &outbox.RetryAfter{Wait: ae.RetryAfter}
		case ae.Status == http.StatusForbidden && ae.Code == "MessageWritesBlocked",
			ae.Status == http.StatusForbidden && ae.Code == "ConversationBlockedByUser":
			log.Warn("teams: recipient blocks the bot; marked unreachable", "code", ae.Code)
			if err := b.State.MarkUnreachable(ctx, aad, ae.Code); err != nil {
				log.Warn("teams: could not mark unreachable", "err", err)
			}
			if err := b.unreachable(ctx, d); err != nil {
				log.Warn("teams: sender not told", "err", err)
			}
			return &outbox.Permanent{Err: ae}
		case ae.Status == 0, ae.Status == http.StatusNotFound, ae.Status == http.StatusForbidden, ae.Status == http.StatusBadRequest:
			if err := b.unreachable(ctx, d); err != nil {
				log.Warn("teams: sender not told", "err", err)
			}
			return &outbox.Permanent{Err: ae}
		}
		return err
	}
	log.Info("teams: delivered")
	if d.Kind == handlers.DeliverInvitation && d.InvitationID != "" {
		if err := b.Service.RecordDelivery(ctx, d.InvitationID, Where); err != nil {
			log.Warn("teams: delivery not recorded", "err", err)
		}
	}
	if d.Sender != "" && d.OnDelivered != nil {
		return b.Enqueue(ctx, []handlers.Delivery{{To: d.Sender, Kind: handlers.DeliverNotice, InvitationID: d.InvitationID, Message: *d.OnDelivered}})
	}
	return nil
}

// unreachable tells the sender, privately, that the recipient could not be
// reached (the message may carry the link to forward). The sender's own
// message has no further fallback.
func (b *Bot) unreachable(ctx context.Context, d handlers.Delivery) error {
	if d.Sender == "" || d.OnUnreachable == nil {
		return nil
	}
	kind := handlers.DeliverNotice
	if d.Kind == handlers.DeliverPassword {
		kind = handlers.DeliverPassword // it carries the password: private chat only
	}
	return b.Enqueue(ctx, []handlers.Delivery{{To: d.Sender, Kind: kind, InvitationID: d.InvitationID, Message: *d.OnUnreachable}})
}
