package storage

import (
	"fmt"

	"github.com/usher-chat/usher/handlers/org"
)

// keys builds every Redis key usher uses. All of an organization's keys share
// the hash tag {org}, so Redis Cluster keeps them in one slot and every Lua
// script may touch all of them atomically.
//
//	usher:{org}:settings          hash   setting key -> canonical value; "rev": changes to settings and workspaces
//	usher:{org}:user:EMAIL        hash   one user (see codec.go)
//	usher:{org}:users             zset   every user's email, score 0 (lexical order)
//	usher:{org}:admins            set    emails of active admins (the last-admin guard)
//	usher:{org}:xid               hash   an identity provider's externalId -> email (SCIM filters; commit_user.go)
//	usher:{org}:wsm:NAME          set    emails with a grant to workspace NAME, kept by every user write (commit_user.go)
//	usher:{org}:wsm               string "1" once the wsm:NAME sets hold everyone (ReindexWorkspaces); without it readers scan the users
//	usher:{org}:chat              hash   chat identity ("slack:T:U") -> email
//	usher:{org}:workspaces        hash   workspace name -> "creator|created-ms"
//	usher:{org}:inv:ID            hash   one invitation
//	usher:{org}:tokens            hash   SHA-256 of a link's secret (base64url) -> invitation id; dropped with the invitation's terminal write
//	usher:{org}:open              hash   invitee email -> id of their open (pending or requested) invitation
//	usher:{org}:pending           zset   pending invitation ids, by creation time
//	usher:{org}:by:EMAIL          zset   pending invitation ids sent by EMAIL
//	usher:{org}:requests          zset   invitation requests waiting for approval
//	usher:{org}:due               zset   scheduled work by due time (ms): "inv:ID" (a pending invitation's
//	                                     next reminder or expiry), "digest" (the admin digest); schedule.go
//	usher:{org}:claimed           zset   due items claimed by a replica, "TOKEN|SCORE|ITEM" by lease end (ms, Redis clock)
//	usher:{org}:digest            hash   the admin digest's next slot ("next", ms) and the schedule it was planned on ("sched")
//	usher:{org}:quota:EMAIL:DAY   string invitations sent by EMAIL on DAY (UTC), expires
//	usher:{org}:sessions:EMAIL    set    a user's web session ids
//	usher:{org}:session:ID        hash   one web session (ID: SHA-256 of the cookie's id), expires
//	usher:{org}:signin:WHO        string sign-in attempts by "email:EMAIL" or "ip:ADDR" (a fixed-window counter), expires
//	                                     hash   "pair:EMAIL|ADDR": {n, until}, the per-address backoff (session_attempt.lua)
//	usher:{org}:audit             stream audit entries
//	usher:{org}:commit:ID         string a commit that ran, for 30 s (a re-sent commit is not applied twice)
//	usher:{org}:outbox2           stream chat messages to send (consumer group "senders"): every job this
//	                                     version queues (Add, a commit's messages); old replicas never read it
//	usher:{org}:outbox2:later     zset   outbox2's jobs waiting for a retry time (JSON members)
//	usher:{org}:outbox            stream the legacy outbox (group "senders"): jobs queued by versions before
//	                                     the delivery router; read (never written) by this one, so that a rolling
//	                                     deploy loses nothing. Empty once no old replica is left: it may be deleted
//	usher:{org}:outbox:later      zset   the legacy outbox's jobs waiting for a retry time
//	usher:{org}:outbox:dead       stream jobs of either outbox that could not be sent, with the reason
//	usher:{org}:outbox:pace:CHAN  string a channel's next free send slot, ms (PX); one for both outboxes and
//	                                     every version, so old and new replicas pace a channel together
//	usher:{org}:outbox:add:ID     string one Add's stream id, for 30 s (a re-sent Add queues nothing twice)
//	usher:{org}:progress:ID       hash   a bulk invitation's progress (progress.go): total, sealed, sender, counts per
//	                                     outcome, "i:INVITATION" -> outcome (each counted once), where its message
//	                                     is (a_*) and what it last showed; expires 7 d after its last change
//	usher:{org}:progress:ID:unreachable zset the bulk's invitees on no platform: invitation id by the order they
//	                                     settled (1, 2, ...), written with their count (apply.lua hcount); same TTL
//	usher:{org}:deliver:told:KEY  string a delivery whose sender was told (or had nothing to hear), 24 h (deliver.go)
//	usher:{org}:teams:ref:AAD     string a Teams user's conversation reference (JSON), expires 180 d after their last activity
//	usher:{org}:teams:profile:AAD string a Teams user's cached identity (email, name), expires (1 h)
//	usher:{org}:teams:email:EMAIL string the Entra object id of the Teams user with EMAIL, expires with the reference
//	usher:{org}:teams:unreachable:AAD string why usher cannot write to the user (403 MessageWritesBlocked), 90 d
//	usher:{org}:teams:seen:HASH   string an activity already handled, until its token expires (replay guard; teams.go)
//	usher:{org}:slackdir:WS       hash   the Slack directory of workspace WS ("-": the default token's): email -> user id
//	usher:{org}:slackdir:WS:ids   hash   its reverse, user id -> email (a changed email drops the old one; slackdir.go)
//	usher:{org}:slackdir:WS:meta  hash   built (ms of the last complete users.list), lock/lock_until (the replica building it)
//	usher:{org}:slackdir:WS:miss:EMAIL string users.lookupByEmail found nobody, expires (10 min)
//	usher:{org}:budget:NAME       hash   a rate budget shared by every replica (GCRA: tat, slow-down f/fx; budget.go),
//	                                     e.g. slack:T123:chat.postMessage, slack:T123:ch:U456, teams:TENANT:app,
//	                                     teams:TENANT:conv:HASH:w0 (a conversation's first window); expires when idle
//	usher:{org}:slack:KIND:ID     string Slack adapter state, with a TTL (slack.go): user:TEAM:USER
//	                                     cached identity (JSON), click:HASH double-click mark,
//	                                     rurl:HASH response_url posts
//
// The deployment-wide directory (directory.go) is the one exception: its keys
// are usher:{_directory}:..., a hash tag no organization can have.
//
// An email in a key, a set member or a hash field is always its identity,
// org.EmailKey (the whole address lower-cased), so one person has one key
// whatever spelling reaches storage; the records keep their "email" field.
// migrate.go moves what older versions stored under other spellings.
type keys struct {
	org    org.ID
	prefix string
}

// newKeys checks id again (the domain's rule, org.ID.Validate): an id made by
// a conversion rather than org.ParseID must not reach a key, where a '}' or a
// '*' would move the organization out of its slot or widen a SCAN.
func newKeys(id org.ID) (keys, error) {
	if err := id.Validate(); err != nil {
		return keys{}, fmt.Errorf("organization id: %w", err)
	}
	return keys{org: id, prefix: orgPrefix(id)}, nil
}

// orgPrefix starts every key of organization id; with a '*' appended it is
// the SCAN pattern of exactly that organization's keys (directory.go):
// "usher:{acme}:*" cannot match "usher:{acme-2}:..." because the '}' is
// part of it.
func orgPrefix(id org.ID) string { return "usher:{" + string(id) + "}:" }

func (k keys) settings() string                 { return k.prefix + "settings" }
func (k keys) user(email string) string         { return k.prefix + "user:" + ek(email) }
func (k keys) userPrefix() string               { return k.prefix + "user:" }
func (k keys) users() string                    { return k.prefix + "users" }
func (k keys) admins() string                   { return k.prefix + "admins" }
func (k keys) externalIDs() string              { return k.prefix + "xid" }
func (k keys) wsMembersPrefix() string          { return k.prefix + "wsm:" }
func (k keys) wsIndexed() string                { return k.prefix + "wsm" }
func (k keys) chat() string                     { return k.prefix + "chat" }
func (k keys) workspaces() string               { return k.prefix + "workspaces" }
func (k keys) inv(id string) string             { return k.prefix + "inv:" + id }
func (k keys) invPrefix() string                { return k.prefix + "inv:" }
func (k keys) tokens() string                   { return k.prefix + "tokens" }
func (k keys) openIndex() string                { return k.prefix + "open" }
func (k keys) pending() string                  { return k.prefix + "pending" }
func (k keys) by(email string) string           { return k.prefix + "by:" + ek(email) }
func (k keys) requests() string                 { return k.prefix + "requests" }
func (k keys) due() string                      { return k.prefix + "due" }
func (k keys) claimed() string                  { return k.prefix + "claimed" }
func (k keys) digest() string                   { return k.prefix + "digest" }
func (k keys) quota(email, day string) string   { return k.prefix + "quota:" + ek(email) + ":" + day }
func (k keys) sessions(email string) string     { return k.prefix + "sessions:" + ek(email) }
func (k keys) sessionPrefix() string            { return k.prefix + "session:" }
func (k keys) session(idHash string) string     { return k.prefix + "session:" + idHash }
func (k keys) signin(who string) string         { return k.prefix + "signin:" + ek(who) }
func (k keys) outbox() string                   { return k.prefix + "outbox" }
func (k keys) outbox2() string                  { return k.prefix + "outbox2" }
func (k keys) outbox2Later() string             { return k.prefix + "outbox2:later" }
func (k keys) outboxLater() string              { return k.prefix + "outbox:later" }
func (k keys) outboxDead() string               { return k.prefix + "outbox:dead" }
func (k keys) outboxAdd(id string) string       { return k.prefix + "outbox:add:" + id }
func (k keys) outboxPace(channel string) string { return k.prefix + "outbox:pace:" + channel }
func (k keys) commit(id string) string          { return k.prefix + "commit:" + id }
func (k keys) audit() string                    { return k.prefix + "audit" }
func (k keys) export(tokenHash string) string   { return k.prefix + "export:" + tokenHash }
func (k keys) slack(kind, id string) string     { return k.prefix + "slack:" + kind + ":" + id }
func (k keys) slackDir(ws string) string        { return k.prefix + "slackdir:" + ws }
func (k keys) slackDirIDs(ws string) string     { return k.prefix + "slackdir:" + ws + ":ids" }
func (k keys) slackDirMeta(ws string) string    { return k.prefix + "slackdir:" + ws + ":meta" }
func (k keys) slackDirMiss(ws, email string) string {
	return k.prefix + "slackdir:" + ws + ":miss:" + email
}
func (k keys) budget(name string) string { return k.prefix + "budget:" + name }
func (k keys) progress(id string) string { return k.prefix + "progress:" + id }
func (k keys) progressUnreachable(id string) string {
	return k.prefix + "progress:" + id + ":unreachable"
}

func (k keys) teamsRef(aad string) string         { return k.prefix + "teams:ref:" + aad }
func (k keys) teamsProfile(aad string) string     { return k.prefix + "teams:profile:" + aad }
func (k keys) teamsEmail(email string) string     { return k.prefix + "teams:email:" + ek(email) }
func (k keys) teamsUnreachable(aad string) string { return k.prefix + "teams:unreachable:" + aad }

// ek is an email's identity in a key (org.EmailKey).
func ek(email string) string { return org.EmailKey(email) }
