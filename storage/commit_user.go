package storage

import (
	"strconv"

	"github.com/usher-chat/usher/handlers/org"
)

// pinActor refuses ch when the acting user has changed since the read (an
// admin demoted or deactivated in between cannot finish an admin action).
func pinActor(o *ops, k keys, ch *org.Change) {
	if ch.Actor == "" || ch.ActorVersion <= 0 {
		return
	}
	o.guard(stale, "actor "+ch.Actor, "hfeq", k.user(ch.Actor), "ver", strconv.FormatInt(ch.ActorVersion, 10))
}

// commitUsers writes ch's users, each guarded by the version read (0: it
// must not exist yet), and keeps the index of active admins, which must
// never empty. ch.NoUsers are emails that must have no user yet.
func commitUsers(o *ops, k keys, ch *org.Change) {
	for _, email := range ch.NoUsers {
		o.guard(stale, "user "+email, "absent", k.user(email))
	}
	for _, w := range ch.Users {
		u := w.User
		key := k.user(u.Email)
		if w.Version == 0 {
			o.guard(stale, "user "+u.Email, "absent", key)
		} else {
			o.guard(stale, "user "+u.Email, "hfeq", key, "ver", strconv.FormatInt(w.Version, 10))
		}
		if !u.IsActiveAdmin() {
			o.guard(lastAdmin, u.Email, "lastadmin", k.admins(), ek(u.Email))
		}
		if u.ExternalID != "" {
			// One member per provider id, decided here as well as at the
			// read: two creates racing with one id cannot both win.
			o.guard(externalIDTaken, u.ExternalID, "hptr", k.externalIDs(), u.ExternalID, ek(u.Email))
		}

		// Versions move only in the copies that are written.
		u = u.Clone()
		u.Version = w.Version + 1
		// Before the record is written: the op reads the grants it had.
		o.add("grants", key, k.wsMembersPrefix(), ek(u.Email), u.Workspaces.Encode())
		o.add("hset", key, userFields(u)...)
		o.add("zadd", k.users(), "0", ek(u.Email))
		// The provider's ids are indexed in the same step as the user, so a
		// filter on externalId never finds a user that is not (yet) so.
		if w.OldExternalID != "" && w.OldExternalID != u.ExternalID {
			o.add("hdelifeq", k.externalIDs(), w.OldExternalID, ek(u.Email))
		}
		if u.ExternalID != "" {
			o.add("hset", k.externalIDs(), u.ExternalID, ek(u.Email))
		} else if w.OldExternalID != "" {
			o.add("hdel", key, "xid")
		}
		if u.IsActiveAdmin() {
			o.add("sadd", k.admins(), ek(u.Email))
		} else {
			o.add("srem", k.admins(), ek(u.Email))
		}
	}
}

// externalIDTaken refuses a provider id another member has.
func externalIDTaken(id, owner string) error {
	return org.Errorf(org.CodeConflict, "externalId %q already belongs to %s.", id, owner)
}

// lastAdmin refuses a change that would leave no active admin.
func lastAdmin(email, _ string) error { return org.LastAdminError(email) }

// commitLinks remembers which user each chat identity belongs to.
func commitLinks(o *ops, k keys, links []org.IdentityLink) {
	for _, l := range links {
		o.add("hset", k.chat(), l.Identity, ek(l.Email))
	}
}

// commitSessions signs users out of the web everywhere.
func commitSessions(o *ops, k keys, emails []string) {
	for _, email := range emails {
		o.add("delmembers", k.sessions(email), k.sessionPrefix())
	}
}
