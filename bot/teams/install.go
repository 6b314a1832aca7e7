package teams

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/usher-chat/usher/handlers"
	"github.com/usher-chat/usher/handlers/org"
)

// One bot registration serves many tenants (issue 15, item 7): a tenant
// that installs the app becomes an organization of its own. Teams sends an
// installationUpdate for every scope the app is added to or removed from (a
// person's personal scope, a team, a group chat), with action "add" or
// "remove", or "add-upgrade" / "remove-upgrade" when an app update adds or
// removes the bot (Microsoft's "Conversation events in your Teams bot",
// Installation update event). Installs decides what that does to the
// directory; the adapter only translates.

// Install is one installationUpdate, as Installs is told it.
type Install struct {
	Tenant       string // Entra tenant id
	Conversation string // where the app was added or removed: a personal chat, a team's channel, a group chat
	Scope        string // conversation.conversationType: "personal", "channel", "groupChat"
	Team         string // the team's name (channelData.team.name), in team scope
	Upgrade      bool   // "add-upgrade" / "remove-upgrade"
	// Installer is who added or removed the app. For "add", Email is the
	// address the connector's member look-up gives (email, else the
	// userPrincipalName), the same address every other Teams request of
	// theirs is authenticated by; Role is their userRole there ("user",
	// "guest", "anonymous"; "" when Teams did not say).
	Installer org.Identity
	Role      string
}

// Installed is what an "add" did.
type Installed struct {
	Org org.ID
	// Created: a new organization, with the installer as its first admin.
	Created bool
	// Again: the tenant was unlinked by an uninstall and is linked back to
	// its organization, whose data was kept.
	Again bool
}

// Installs links a tenant to its organization when usher is installed in
// it, creating one when needed, and unlinks it when its last installation
// is removed (cmd/usher implements it over the directory). A refusal a
// person should read is an *org.Error.
type Installs interface {
	Installed(ctx context.Context, in Install) (Installed, error)
	// Removed reports whether the removal unlinked the tenant.
	Removed(ctx context.Context, in Install) (unlinked bool, err error)
}

// teamChannelData is the part of channelData an installation names.
type teamChannelData struct {
	Team struct {
		Name string `json:"name"`
	} `json:"team"`
}

// forgetter is the replay guard's undo (storage.TeamsState.Forget).
type forgetter interface {
	Forget(ctx context.Context, id string) error
}

// installation handles an installationUpdate when Installs is set: before
// the activity is routed for "add" (the tenant may have no organization
// yet), after for "remove" (its organization marks the person unreachable
// first). A failure answers 500 and unmarks the activity, so that the
// channel's retry applies it instead of being refused as a replay.
func (b *Bot) installation(ctx context.Context, w http.ResponseWriter, act *Activity) {
	in := Install{Tenant: act.Tenant(), Conversation: act.Conversation.ID, Scope: act.Conversation.ConversationType,
		Upgrade:   strings.HasSuffix(act.Action, "-upgrade"),
		Installer: org.Identity{Platform: Platform, Team: act.Tenant(), UserID: act.From.AadObjectID, Name: act.From.Name}}
	var cd teamChannelData
	if len(act.ChannelData) > 0 && json.Unmarshal(act.ChannelData, &cd) == nil {
		in.Team = cd.Team.Name
	}
	log := b.log().With("tenant", in.Tenant, "action", act.Action, "scope", in.Scope)
	fail := func(what string, err error) {
		log.ErrorContext(ctx, "teams: installation not applied; the channel may retry it", "step", what, "err", err)
		b.forget(ctx, act)
		http.Error(w, http.StatusText(http.StatusInternalServerError), http.StatusInternalServerError)
	}
	switch {
	case strings.HasPrefix(act.Action, "add"):
		m, err := b.Connector.Member(ctx, act.ServiceURL, act.Conversation.ID, act.From.ID)
		if err != nil {
			fail("look up the installer", err)
			return
		}
		if obj := m.Object(); obj != "" {
			if in.Installer.UserID != "" && !strings.EqualFold(obj, in.Installer.UserID) {
				fail("look up the installer", errors.New("member look-up answered for another user"))
				return
			}
			in.Installer.UserID = obj
		}
		if m.TenantID != "" && !strings.EqualFold(m.TenantID, in.Tenant) {
			// Not a member of the tenant installing usher (a guest's home
			// tenant): never its first admin.
			in.Role = "guest"
		} else {
			in.Role = m.UserRole
		}
		email := m.Email
		if email == "" {
			email = m.UserPrincipalName
		}
		if e, err := org.NormalizeEmail(strings.ToLower(email)); err == nil {
			in.Installer.Email = e
		}
		in.Installer.Name = orDefault(m.Name, in.Installer.Name)
		res, err := b.Installs.Installed(ctx, in)
		var oe *org.Error
		if errors.As(err, &oe) {
			log.WarnContext(ctx, "teams: installation refused", "reason", oe.Message)
			text := oe.Message
			if oe.Hint != "" {
				text += " " + oe.Hint
			}
			if _, err := b.Connector.Send(ctx, act.ServiceURL, act.Conversation.ID, OutActivity{Type: "message", Text: text}); err != nil {
				log.WarnContext(ctx, "teams: reply not sent", "err", err)
			}
			w.WriteHeader(http.StatusOK)
			return
		}
		if err != nil {
			fail("link the tenant", err)
			return
		}
		log.InfoContext(ctx, "teams: installed", "org", string(res.Org), "created", res.Created, "again", res.Again)
		routed, ok := b.routed(ctx, act)
		if !ok {
			w.WriteHeader(http.StatusOK)
			return
		}
		if _, err := routed.remember(ctx, act); err != nil {
			log.WarnContext(ctx, "teams: could not store the conversation reference", "err", err)
		} else if !in.Upgrade || res.Created || res.Again {
			routed.answer(ctx, act, RenderMessage(greeting(res)))
		}
	case strings.HasPrefix(act.Action, "remove"):
		if routed, ok := b.routed(ctx, act); ok && act.From.AadObjectID != "" && act.Personal() {
			// Uninstalled from their personal scope: usher can no longer
			// write to them, whatever the rest of the tenant does. (Whoever
			// removes it from a team keeps their own.)
			if err := routed.State.MarkUnreachable(ctx, act.From.AadObjectID, "uninstalled"); err != nil {
				log.WarnContext(ctx, "teams: could not mark unreachable", "err", err)
			}
		}
		unlinked, err := b.Installs.Removed(ctx, in)
		if err != nil {
			fail("record the removal", err)
			return
		}
		log.InfoContext(ctx, "teams: installation removed", "unlinked", unlinked)
	}
	w.WriteHeader(http.StatusOK)
}

// routed is the bot serving act's tenant's organization; ok is false (and
// it is logged) when no organization serves it.
func (b *Bot) routed(ctx context.Context, act *Activity) (*Bot, bool) {
	if b.Orgs == nil {
		return b, true
	}
	o, ok, err := b.Orgs.Serving(ctx, act.Tenant())
	if err != nil || !ok {
		b.log().WarnContext(ctx, "teams: no organization serves the tenant", "tenant", act.Tenant(), "err", err)
		return nil, false
	}
	routed := *b
	routed.Orgs, routed.Service, routed.State, routed.Router = nil, o.Service, o.State, o.Router
	return &routed, true
}

func greeting(res Installed) handlers.Message {
	switch {
	case res.Created:
		return handlers.Message{Tone: handlers.ToneSuccess, Text: fmt.Sprintf("Hi! usher is now set up for your Microsoft Teams tenant, "+
			"and you are the first admin of its organization (%s).\nNext: type help to see what it does, and invite EMAIL to invite your "+
			"colleagues (--role admin for a second admin).", res.Org)}
	case res.Again:
		return handlers.Message{Tone: handlers.ToneSuccess, Text: fmt.Sprintf("usher is installed again in this tenant; organization %s "+
			"and its people are as they were. Type help to start.", res.Org)}
	}
	return handlers.Message{Tone: handlers.ToneInfo, Text: "Hi! usher is installed for you. Type help to see what you can do."}
}

// forget unmarks act in the replay guard.
func (b *Bot) forget(ctx context.Context, act *Activity) {
	f, ok := b.State.(forgetter)
	if !ok || act.ID == "" {
		return
	}
	h := sha256.Sum256([]byte(act.Conversation.ID + "\x00" + act.ID))
	if err := f.Forget(ctx, hex.EncodeToString(h[:16])); err != nil {
		b.log().WarnContext(ctx, "teams: could not unmark the activity", "err", err)
	}
}
