// Package teams is usher's Microsoft Teams adapter. It translates only: an
// authenticated Bot Framework activity becomes a handlers.Request, a
// handlers.Reply becomes an Adaptive Card, and deliveries to other people go
// through the durable outbox to their personal chat with the bot.
//
// It uses msbotbuilder-go for the activity schema and nothing else: the
// library's JWT validator and connector client are replaced (auth.go,
// token.go, connector.go) and the HTTP handler is usher's own, because the
// adapter cannot answer an invoke synchronously.
package teams

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/usher-chat/usher/bot/deliver"
	"github.com/usher-chat/usher/handlers"
	"github.com/usher-chat/usher/handlers/org"
)

// Service is what the adapter needs of usher's use cases.
type Service interface {
	Handle(ctx context.Context, req handlers.Request) handlers.Reply
}

// State is what the adapter keeps in Redis (storage implements it). Values
// are the adapter's own JSON; storage only stores them, with TTLs.
type State interface {
	// SaveReference stores a user's conversation reference by Entra object
	// id and clears an "unreachable" mark (they talk to the bot again).
	SaveReference(ctx context.Context, aadObjectID string, ref []byte) error
	// Reference returns the stored reference, nil when there is none.
	Reference(ctx context.Context, aadObjectID string) ([]byte, error)
	// SaveProfile caches a user's profile (email, name) for ttl and indexes
	// the object id by email, for deliveries.
	SaveProfile(ctx context.Context, aadObjectID, email string, profile []byte, ttl time.Duration) error
	// Profile returns the cached profile, nil when there is none.
	Profile(ctx context.Context, aadObjectID string) ([]byte, error)
	// UserByEmail returns the Entra object id of the Teams user with email, "" if unknown.
	UserByEmail(ctx context.Context, email string) (string, error)
	// MarkUnreachable remembers that the user cannot get messages (403
	// MessageWritesBlocked); Unreachable reads it.
	MarkUnreachable(ctx context.Context, aadObjectID, reason string) error
	Unreachable(ctx context.Context, aadObjectID string) (bool, error)
	// Recipient is a delivery's look-up in one read: the object id of the
	// user with email (aadObjectID instead, when given; "" when nobody
	// has that email), their unreachable mark, and their reference (nil
	// when none).
	Recipient(ctx context.Context, email, aadObjectID string) (aad string, unreachable bool, ref []byte, err error)
	// FirstSeen marks an activity id for ttl and reports whether it was
	// not marked yet (the replay guard).
	FirstSeen(ctx context.Context, id string, ttl time.Duration) (bool, error)
}

// Router delivers a reply's messages for people on whichever platform knows
// them (bot/deliver.Router), and takes over jobs queued by earlier versions.
type Router interface {
	Deliver(ctx context.Context, ds []handlers.Delivery, from deliver.Origin) error
	Outbox(from deliver.Origin) handlers.Outbox
	Resume(ctx context.Context, attempt int, j deliver.Job) error
}

// Platform is the adapter's name in identities and outbox jobs.
const Platform = "teams"

// Org is the organization serving one activity: its use cases, its Teams
// state and its delivery router.
type Org struct {
	ID      org.ID
	Service Service
	State   State
	Router  Router
}

// Orgs finds the organization that serves a Teams tenant.
type Orgs interface {
	// Serving is the organization serving tenant (an Entra tenant id); ok
	// is false when none does.
	Serving(ctx context.Context, tenant string) (o Org, ok bool, err error)
}

// Bot serves POST /api/messages.
type Bot struct {
	// Orgs, when set, routes each activity to the organization serving its
	// tenant, whose Service, State and Router then answer it; the fields
	// below serve the replay guard and jobs queued by earlier versions
	// (the default organization's).
	Orgs      Orgs
	Service   Service
	Auth      *Validator // nil only in the unauthenticated loopback mode
	Connector *Connector
	State     State
	// Router delivers the messages for other people (required).
	Router Router
	// QueueInCommit says that Service's store writes messages into the
	// outbox the router's jobs go to (usher serve): a command then queues
	// its messages in its own atomic commit, so a crash between the change
	// and the queueing cannot lose them.
	QueueInCommit bool
	Log           *slog.Logger
	ProfileTTL    time.Duration // identity cache lifetime; default 1 h
	// Observe, when set, is told every command's verb, outcome and duration (metrics).
	Observe func(command, outcome string, d time.Duration)
	// Installs, when set (with Orgs), makes installationUpdate link and
	// unlink tenants (install.go): a tenant that installs usher gets an
	// organization of its own.
	Installs Installs
}

func (b *Bot) log() *slog.Logger {
	if b.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return b.Log
}

const maxBody = 256 << 10

// ServeHTTP handles one activity from the Bot Connector.
func (b *Bot) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil || len(body) > maxBody {
		http.Error(w, "request body too large or unreadable", http.StatusBadRequest)
		return
	}
	act, err := ParseActivity(body)
	if err != nil {
		b.log().Warn("teams: malformed activity", "err", err, "remote", r.RemoteAddr)
		http.Error(w, "malformed activity", http.StatusBadRequest)
		return
	}
	seenFor := replayTTL
	if b.Auth != nil {
		claims, err := b.Auth.Authenticate(ctx, r.Header.Get("Authorization"), act)
		if err == nil && claims.ExpiresAt != nil {
			// The token, and with it a captured request, is accepted until
			// it expires (plus the clock skew allowed).
			seenFor = max(time.Until(claims.ExpiresAt.Time)+Skew, time.Minute)
		}
		if err != nil {
			var ae *AuthError
			status := http.StatusUnauthorized
			if errors.As(err, &ae) {
				status = ae.Status
			}
			b.log().Warn("teams: request refused", "status", status, "reason", err.Error(), "remote", r.RemoteAddr,
				"channel", act.ChannelID, "tenant", act.Tenant(), "activity_type", string(act.Type))
			http.Error(w, http.StatusText(status), status)
			return
		}
	}
	if !b.Connector.HostAllowed(act.ServiceURL) {
		b.log().Warn("teams: request refused", "status", http.StatusForbidden, "reason", "serviceUrl host not allowed", "remote", r.RemoteAddr)
		http.Error(w, http.StatusText(http.StatusForbidden), http.StatusForbidden)
		return
	}
	if !b.firstSeen(ctx, act, seenFor) {
		// The same authenticated activity again while its token is valid:
		// a replay of a captured request (or the channel re-sending one
		// already handled). It was acted on once; never twice.
		b.log().Warn("teams: request refused", "status", http.StatusUnauthorized, "reason", "activity already received",
			"remote", r.RemoteAddr, "activity_type", string(act.Type), "tenant", act.Tenant())
		http.Error(w, http.StatusText(http.StatusUnauthorized), http.StatusUnauthorized)
		return
	}
	if act.Type == "installationUpdate" && b.Installs != nil && b.Orgs != nil {
		b.installation(ctx, w, act)
		return
	}
	if b.Orgs != nil {
		o, ok, err := b.Orgs.Serving(ctx, act.Tenant())
		if err != nil || !ok {
			b.notServed(ctx, act, err)
			w.WriteHeader(http.StatusOK)
			return
		}
		routed := *b
		routed.Orgs, routed.Service, routed.State, routed.Router = nil, o.Service, o.State, o.Router
		b = &routed
	}
	switch act.Type {
	case "message":
		b.message(ctx, act)
		w.WriteHeader(http.StatusOK)
	case "invoke":
		b.invoke(ctx, w, act)
	case "conversationUpdate", "installationUpdate":
		id, err := b.remember(ctx, act)
		if err != nil {
			b.log().Warn("teams: could not store the conversation reference", "err", err)
		} else if act.Type == "installationUpdate" && strings.HasPrefix(act.Action, "remove") && act.Personal() {
			// Uninstalled from their personal scope: usher can no longer
			// write to them. (Whoever removes it from a team keeps theirs.)
			if err := b.State.MarkUnreachable(ctx, id.UserID, "uninstalled"); err != nil {
				b.log().Warn("teams: could not mark unreachable", "err", err)
			}
		}
		w.WriteHeader(http.StatusOK)
	default:
		w.WriteHeader(http.StatusOK)
	}
}

// notServed answers a message from a tenant no organization serves (or
// when the directory cannot say which does) and logs it; other activities
// are only logged.
func (b *Bot) notServed(ctx context.Context, act *Activity, err error) {
	text := "usher is not set up for this Microsoft Teams tenant. Whoever runs usher can link it to an organization: usher org link ORG --teams-tenant " + act.Tenant()
	if b.Installs != nil {
		text = "usher is not set up for this Microsoft Teams tenant: install the usher app in Teams to set it up (whoever installs it first becomes its admin), " +
			"or ask whoever runs usher to link it to an organization: usher org link ORG --teams-tenant " + act.Tenant()
	}
	if err != nil {
		b.log().Warn("teams: cannot route activity", "tenant", act.Tenant(), "err", err)
		text = "usher can't tell which organization this tenant belongs to just now (its database is not answering), so nothing was done. Please try again in a minute."
	} else {
		b.log().Warn("teams: refused activity from a tenant usher does not serve", "tenant", act.Tenant(), "activity_type", string(act.Type))
	}
	if act.Type != "message" && act.Type != "invoke" {
		return
	}
	if _, err := b.Connector.Send(ctx, act.ServiceURL, act.Conversation.ID, OutActivity{Type: "message", Text: text, ReplyToID: act.ID}); err != nil {
		b.log().Warn("teams: reply not sent", "err", err)
	}
}

// replayTTL is how long an activity id is remembered when no token says
// how long the request stays acceptable (the unauthenticated loopback mode).
const replayTTL = time.Hour

// firstSeen reports whether act is new: its id, within its conversation
// (Bot Framework ids are unique per conversation), not handled in ttl. An
// activity without an id is not tracked; with Redis down the activity goes
// through, as nothing can change then anyway.
func (b *Bot) firstSeen(ctx context.Context, act *Activity, ttl time.Duration) bool {
	if act.ID == "" {
		return true
	}
	h := sha256.Sum256([]byte(act.Conversation.ID + "\x00" + act.ID))
	first, err := b.State.FirstSeen(ctx, hex.EncodeToString(h[:16]), ttl)
	if err != nil {
		b.log().Warn("teams: replay check unavailable", "err", err)
		return true
	}
	return first
}

// profile is the cached identity of a Teams user.
type profile struct {
	Email string `json:"email"`
	Name  string `json:"name"`
}

// remember resolves who sent the activity (the member look-up, cached) and
// stores their conversation reference, with the activity's service URL.
func (b *Bot) remember(ctx context.Context, act *Activity) (org.Identity, error) {
	id := org.Identity{Platform: Platform, Team: act.Tenant(), UserID: act.From.AadObjectID, Name: act.From.Name}
	if act.From.ID == "" {
		return id, errors.New("activity has no sender")
	}
	var p *profile
	if id.UserID != "" {
		if raw, err := b.State.Profile(ctx, id.UserID); err != nil {
			return id, fmt.Errorf("read profile: %w", err)
		} else if raw != nil {
			var cached profile
			if json.Unmarshal(raw, &cached) == nil && cached.Email != "" {
				p = &cached
			}
		}
	}
	if p == nil {
		m, err := b.Connector.Member(ctx, act.ServiceURL, act.Conversation.ID, act.From.ID)
		if err != nil {
			return id, fmt.Errorf("look up member: %w", err)
		}
		if id.UserID == "" {
			id.UserID = m.Object()
		} else if obj := m.Object(); obj != "" && !strings.EqualFold(obj, id.UserID) {
			return id, fmt.Errorf("member look-up answered for another user")
		}
		email := m.Email
		if email == "" {
			email = m.UserPrincipalName
		}
		// Entra treats mail and UPN case-insensitively; so does usher here.
		email, err = org.NormalizeEmail(strings.ToLower(email))
		if err != nil || id.UserID == "" {
			return id, fmt.Errorf("member has no email or object id")
		}
		p = &profile{Email: email, Name: orDefault(m.Name, act.From.Name)}
		raw, _ := json.Marshal(p)
		ttl := b.ProfileTTL
		if ttl == 0 {
			ttl = time.Hour
		}
		if err := b.State.SaveProfile(ctx, id.UserID, p.Email, raw, ttl); err != nil {
			return id, fmt.Errorf("cache profile: %w", err)
		}
	}
	id.Email, id.Name = p.Email, orDefault(p.Name, id.Name)
	act.From.AadObjectID = id.UserID // resolved: later steps (a private reply) use it

	ref := Reference{ServiceURL: act.ServiceURL, Tenant: act.Tenant(), UserID: act.From.ID, AADObject: id.UserID,
		BotID: act.Recipient.ID, BotName: act.Recipient.Name, ChannelID: act.ChannelID}
	if act.Personal() {
		ref.Personal = act.Conversation.ID
	} else if old, err := b.reference(ctx, id.UserID); err == nil && old != nil {
		ref.Personal = old.Personal
	}
	raw, _ := json.Marshal(ref)
	if err := b.State.SaveReference(ctx, id.UserID, raw); err != nil {
		return id, fmt.Errorf("store reference: %w", err)
	}
	return id, nil
}

func (b *Bot) reference(ctx context.Context, aad string) (*Reference, error) {
	return reference(ctx, b.State, aad)
}

// reference reads a user's stored conversation reference, nil when there is none.
func reference(ctx context.Context, state State, aad string) (*Reference, error) {
	raw, err := state.Reference(ctx, aad)
	if err != nil || raw == nil {
		return nil, err
	}
	var ref Reference
	if err := json.Unmarshal(raw, &ref); err != nil {
		return nil, fmt.Errorf("decode reference: %w", err)
	}
	return &ref, nil
}

var errWho = handlers.Reply{Message: handlers.Message{Tone: handlers.ToneError,
	Text: "usher couldn't look up who you are in Teams right now, so nothing was done. Please try again in a minute."}}

// run handles one command as the activity's sender.
func (b *Bot) run(ctx context.Context, act *Activity, text string) handlers.Reply {
	actor, err := b.remember(ctx, act)
	if err != nil {
		b.log().Warn("teams: could not resolve the sender", "err", err)
		return errWho
	}
	start := time.Now()
	from := deliver.OriginOf(actor, "")
	req := handlers.Request{Actor: actor, Text: text}
	if b.QueueInCommit {
		req.Outbox = b.Router.Outbox(from)
	}
	reply := b.Service.Handle(ctx, req)
	if b.Observe != nil {
		verb, _, _ := strings.Cut(text, " ")
		outcome := "ok"
		if reply.Code != "" {
			outcome = string(reply.Code)
		}
		b.Observe(verb, outcome, time.Since(start))
	}
	if len(reply.Deliveries) > 0 {
		if err := b.Router.Deliver(ctx, reply.Deliveries, from); err != nil {
			b.log().Error("teams: deliveries not queued", "err", err, "count", len(reply.Deliveries))
		}
	}
	return reply
}

// message handles typed text and Action.Submit clicks (a message whose value
// is the button's data).
func (b *Bot) message(ctx context.Context, act *Activity) {
	if c, ok := act.Click(); ok {
		card, reply := b.click(ctx, act, c)
		if card != nil && act.ReplyToID != "" {
			if err := b.Connector.Update(ctx, act.ServiceURL, act.Conversation.ID, act.ReplyToID, card.Activity()); err != nil {
				b.log().Warn("teams: could not update the card", "err", err)
			}
			return
		}
		if card != nil {
			b.answer(ctx, act, *card)
		}
		if reply != nil {
			b.answer(ctx, act, RenderMessage(reply.Message))
		}
		return
	}
	text := act.CommandText()
	if text == "" {
		text = "help"
	}
	reply := b.run(ctx, act, text)
	b.answer(ctx, act, RenderMessage(reply.Message))
}

// click runs a button's command. It returns the card that replaces the
// clicked one, or (when the reply is a new message) the reply to post.
func (b *Bot) click(ctx context.Context, act *Activity, c click) (*Card, *handlers.Reply) {
	switch {
	case c.Cancel:
		card := RenderCancelled()
		return &card, nil
	case c.Confirm != nil:
		card := RenderConfirm(c.Command, c.Confirm)
		return &card, nil
	}
	reply := b.run(ctx, act, c.Command)
	if reply.Replace {
		card := RenderMessage(reply.Message)
		return &card, nil
	}
	return nil, &reply
}

// invoke answers Action.Execute (and Action.Submit sent as an invoke)
// synchronously, with the replacement card in the HTTP response.
func (b *Bot) invoke(ctx context.Context, w http.ResponseWriter, act *Activity) {
	c, ok := act.Click()
	if !ok {
		writeJSON(w, http.StatusOK, map[string]any{"statusCode": http.StatusNotImplemented, "type": "application/vnd.microsoft.error",
			"value": map[string]string{"code": "NotImplemented", "message": "usher does not handle this invoke"}})
		return
	}
	card, reply := b.click(ctx, act, c)
	if card == nil && reply.Code != "" {
		// Refused (someone else's Accept, say): the card stays as it was and
		// the clicker is told why.
		writeJSON(w, http.StatusOK, map[string]any{"statusCode": http.StatusOK, "type": "application/vnd.microsoft.activity.message", "value": reply.Text})
		return
	}
	if card == nil {
		// The answer is a new message (e.g. a link shown again); the clicked
		// card stays as it was.
		b.answer(ctx, act, RenderMessage(reply.Message))
		writeJSON(w, http.StatusOK, map[string]any{"statusCode": http.StatusOK, "type": "application/vnd.microsoft.activity.message", "value": "Done: see the reply."})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"statusCode": http.StatusOK, "type": CardContentType, "value": *card})
}

// answer posts a card to the person who sent act: in their personal chat
// (a channel would show links and passwords to everyone), with a pointer in
// the channel when the command came from one.
func (b *Bot) answer(ctx context.Context, act *Activity, card Card) {
	if act.Personal() {
		if _, err := b.Connector.Send(ctx, act.ServiceURL, act.Conversation.ID, withReply(card.Activity(), act.ID)); err != nil {
			b.log().Warn("teams: reply not sent", "err", err)
		}
		return
	}
	ref, err := b.reference(ctx, act.From.AadObjectID)
	if err != nil || ref == nil {
		b.log().Warn("teams: no reference for a private reply", "err", err)
		return
	}
	conv, err := b.personal(ctx, ref)
	if err == nil {
		_, err = b.Connector.Send(ctx, ref.ServiceURL, conv, card.Activity())
	}
	note := "I've answered you in our private chat."
	if err != nil {
		b.log().Warn("teams: private reply not sent", "err", err)
		note = "I couldn't message you privately: open a chat with me and try again there."
	}
	pointer := OutActivity{Type: "message", Text: note, ReplyToID: act.ID}
	if _, err := b.Connector.Send(ctx, act.ServiceURL, act.Conversation.ID, pointer); err != nil {
		b.log().Warn("teams: reply not sent", "err", err)
	}
}

func withReply(a OutActivity, id string) OutActivity {
	a.ReplyToID = id
	return a
}

// personal returns the user's 1:1 conversation with the bot, creating it
// (POST /v3/conversations) and remembering it when needed.
func (b *Bot) personal(ctx context.Context, ref *Reference) (string, error) {
	return personal(ctx, b.Connector, b.State, b.log(), ref)
}

func personal(ctx context.Context, conn *Connector, state State, log *slog.Logger, ref *Reference) (string, error) {
	if ref.Personal != "" {
		return ref.Personal, nil
	}
	conv, err := conn.CreatePersonal(ctx, *ref)
	if err != nil {
		return "", err
	}
	ref.Personal = conv
	raw, _ := json.Marshal(ref)
	if err := state.SaveReference(ctx, ref.AADObject, raw); err != nil {
		log.Warn("teams: could not store the personal conversation", "err", err)
	}
	return conv, nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
