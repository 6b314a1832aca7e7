package storage

import (
	"strconv"
	"time"

	"github.com/usher-chat/usher/handlers/org"
)

// commitInvitations writes invitations, each guarded by the status and
// version read ("" and 0: it must not exist yet), keeps one open invitation
// per person (the open index) and files each one in the indexes of open
// work its status calls for: pending, by inviter, requests, due reminders,
// and the link's token.
func commitInvitations(o *ops, k keys, ws []org.InvitationWrite) {
	for _, w := range ws {
		inv := w.Invitation
		key := k.inv(inv.ID)
		if w.Expect == "" {
			o.guard(stale, "invitation "+inv.ID, "absent", key)
		} else {
			o.guard(stale, "invitation "+inv.ID+" status", "hfeq", key, "status", string(w.Expect))
			o.guard(stale, "invitation "+inv.ID, "hfeq", key, "ver", strconv.FormatInt(w.Version, 10))
		}
		if inv.Status.Open() {
			what := "open:" + inv.Email // stale: the open invitation's id is what it holds
			if closed := closedOpen(ws, inv.Email); closed != "" {
				o.guard(stale, what, "hptr", k.openIndex(), ek(inv.Email), inv.ID, closed)
			} else {
				o.guard(stale, what, "hptr", k.openIndex(), ek(inv.Email), inv.ID)
			}
		}
		writeInvitation(o, k, w)
	}
}

// writeInvitation stores w's invitation and moves it between the indexes.
func writeInvitation(o *ops, k keys, w org.InvitationWrite) {
	inv := w.Invitation.Clone()
	inv.Version = w.Version + 1
	oldToken := inv.TokenHash
	if w.NewTokenHash != "" {
		inv.TokenHash = w.NewTokenHash
	}
	id := inv.ID
	if fields, ok := changedInvitation(w.Was, inv, w); ok {
		o.add("hset", k.inv(id), fields...)
		return
	}
	o.add("hset", k.inv(id), invitationFields(inv)...)
	switch inv.Status {
	case org.InvitationPending:
		o.add("zadd", k.pending(), ms(inv.Created), id)
		o.add("zadd", k.by(inv.Inviter), ms(inv.Created), id)
		if w.Expect == org.InvitationRequested { // an approved request
			o.add("zrem", k.requests(), id)
		}
		o.add("hset", k.openIndex(), ek(inv.Email), id)
		o.add("zadd", k.due(), ms(inv.NextDue()), dueInvitation(id))
	case org.InvitationRequested:
		o.add("zadd", k.requests(), ms(inv.Created), id)
		o.add("hset", k.openIndex(), ek(inv.Email), id)
		// Due at its expiry, for the sweep to close it (handlers/remind.go).
		o.add("zadd", k.due(), ms(inv.Expires), dueInvitation(id))
	default: // terminal: out of every index of open work, and the link dies
		o.add("zrem", k.pending(), id)
		o.add("zrem", k.by(inv.Inviter), id)
		o.add("zrem", k.requests(), id)
		o.add("zrem", k.due(), dueInvitation(id))
		o.add("hdelifeq", k.openIndex(), ek(inv.Email), id)
		if oldToken != "" {
			o.add("hdel", k.tokens(), tokenField(oldToken))
		}
		if inv.TokenHash != oldToken && inv.TokenHash != "" {
			o.add("hdel", k.tokens(), tokenField(inv.TokenHash))
		}
	}
	if w.NewTokenHash != "" && inv.Status == org.InvitationPending {
		// The link's secret, by its hash: one field of one hash rather
		// than a key each (memory: docs/reminders.md). It dies with the
		// invitation's next terminal write; until then expiry is checked
		// on every read of it.
		if oldToken != "" {
			o.add("hdel", k.tokens(), tokenField(oldToken))
		}
		o.add("hset", k.tokens(), tokenField(w.NewTokenHash), id)
	}
}

// changedInvitation is what of inv differs from was, the same invitation
// as read at the write's version, when nothing but its hash changes: the
// same status, the same place in every index (created, inviter, email,
// what is due when) and the same link. ok false: write it whole. The
// write's version guard makes was what Redis holds, so the fields left out
// hold their values already.
func changedInvitation(was, inv *org.Invitation, w org.InvitationWrite) (fields []string, ok bool) {
	if was == nil || was.ID != inv.ID || was.Version != w.Version || w.NewTokenHash != "" || w.Expect != was.Status ||
		was.Status != inv.Status || !was.Created.Equal(inv.Created) || was.Inviter != inv.Inviter || ek(was.Email) != ek(inv.Email) ||
		!was.Expires.Equal(inv.Expires) || !was.NextDue().Equal(inv.NextDue()) || was.TokenHash != inv.TokenHash {
		return nil, false
	}
	old := was.Clone()
	old.Version = inv.Version // always written
	a, b := invitationFields(old), invitationFields(inv)
	if len(a) != len(b) {
		return nil, false // a spelling field comes or goes
	}
	for i := 0; i < len(b); i += 2 {
		if a[i] != b[i] {
			return nil, false
		}
		if a[i+1] != b[i+1] || b[i] == "ver" {
			fields = append(fields, b[i], b[i+1])
		}
	}
	return fields, true
}

// closedOpen is the id of an open invitation for email that ws closes (an
// expired one replaced by a new invitation in the same change), or "". The
// open index may still point at it: its own write is guarded by its status
// and version, and takes it out of the index.
func closedOpen(ws []org.InvitationWrite, email string) string {
	for _, w := range ws {
		if ek(w.Invitation.Email) == ek(email) && w.Expect.Open() && !w.Invitation.Status.Open() {
			return w.Invitation.ID
		}
	}
	return ""
}

// commitQuota counts invitations against the inviter's daily limit in the
// same step as creating them (limit 0: unlimited, counted all the same).
func commitQuota(o *ops, k keys, q *org.QuotaUse) {
	if q == nil {
		return
	}
	key := k.quota(q.Email, q.Day)
	if q.Limit > 0 {
		o.guard(quotaFull, "", "quota", key, strconv.Itoa(q.N), strconv.Itoa(q.Limit))
	}
	if q.N > 0 {
		o.add("incrby", key, strconv.Itoa(q.N), strconv.FormatInt((48*time.Hour).Milliseconds(), 10))
	}
}

// quotaFull refuses an invitation over the daily limit; sent is how many
// were sent today.
func quotaFull(_, sent string) error {
	return org.Errorf(org.CodeLimit, "You have reached today's invitation limit (%s sent).", sent).
		WithHint("Try again tomorrow, or ask an admin.")
}
