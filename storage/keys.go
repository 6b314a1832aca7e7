package storage

import (
	"fmt"
	"regexp"
)

// keys builds every Redis key usher uses. All of an organization's keys share
// the hash tag {org}, so Redis Cluster keeps them in one slot and every Lua
// script may touch all of them atomically.
//
//	usher:{org}:settings          hash   setting key -> canonical value
//	usher:{org}:user:EMAIL        hash   one user (see codec.go)
//	usher:{org}:users             zset   every user's email, score 0 (lexical order)
//	usher:{org}:admins            set    emails of active admins (the last-admin guard)
//	usher:{org}:chat              hash   chat identity ("slack:T:U") -> email
//	usher:{org}:workspaces        hash   workspace name -> "creator|created-ms"
//	usher:{org}:inv:ID            hash   one invitation
//	usher:{org}:tok:SHA256        string invitation id, for the link's secret (hash only), expires with it
//	usher:{org}:open:EMAIL        string id of the invitee's open (pending or requested) invitation
//	usher:{org}:invitee:EMAIL     zset   every invitation to EMAIL, by creation time
//	usher:{org}:pending           zset   pending invitation ids, by creation time
//	usher:{org}:by:EMAIL          zset   pending invitation ids sent by EMAIL
//	usher:{org}:requests          zset   invitation requests waiting for approval
//	usher:{org}:due               zset   "expire:ID" (and later reminders), by due time
//	usher:{org}:quota:EMAIL:DAY   string invitations sent by EMAIL on DAY (UTC), expires
//	usher:{org}:sessions:EMAIL    set    a user's web session ids
//	usher:{org}:session:ID        hash   one web session
//	usher:{org}:audit             stream audit entries
//	usher:{org}:outbox            stream chat messages to send (consumer group "senders")
//	usher:{org}:outbox:later      zset   jobs waiting for a retry time (JSON members)
//	usher:{org}:outbox:dead       stream jobs that could not be sent, with the reason
//	usher:{org}:outbox:pace:CHAN  string a channel's next send slot (PX)
type keys struct{ prefix string }

var orgIDPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,31}$`)

func newKeys(org string) (keys, error) {
	if !orgIDPattern.MatchString(org) {
		return keys{}, fmt.Errorf("organization id %q: want 1-32 of [a-z0-9-]", org)
	}
	return keys{prefix: "usher:{" + org + "}:"}, nil
}

func (k keys) settings() string                 { return k.prefix + "settings" }
func (k keys) user(email string) string         { return k.prefix + "user:" + email }
func (k keys) userPrefix() string               { return k.prefix + "user:" }
func (k keys) users() string                    { return k.prefix + "users" }
func (k keys) admins() string                   { return k.prefix + "admins" }
func (k keys) chat() string                     { return k.prefix + "chat" }
func (k keys) workspaces() string               { return k.prefix + "workspaces" }
func (k keys) inv(id string) string             { return k.prefix + "inv:" + id }
func (k keys) invPrefix() string                { return k.prefix + "inv:" }
func (k keys) token(hash string) string         { return k.prefix + "tok:" + hash }
func (k keys) open(email string) string         { return k.prefix + "open:" + email }
func (k keys) invitee(email string) string      { return k.prefix + "invitee:" + email }
func (k keys) pending() string                  { return k.prefix + "pending" }
func (k keys) by(email string) string           { return k.prefix + "by:" + email }
func (k keys) requests() string                 { return k.prefix + "requests" }
func (k keys) due() string                      { return k.prefix + "due" }
func (k keys) quota(email, day string) string   { return k.prefix + "quota:" + email + ":" + day }
func (k keys) sessions(email string) string     { return k.prefix + "sessions:" + email }
func (k keys) sessionPrefix() string            { return k.prefix + "session:" }
func (k keys) outbox() string                   { return k.prefix + "outbox" }
func (k keys) outboxLater() string              { return k.prefix + "outbox:later" }
func (k keys) outboxDead() string               { return k.prefix + "outbox:dead" }
func (k keys) outboxPace(channel string) string { return k.prefix + "outbox:pace:" + channel }
func (k keys) audit() string                    { return k.prefix + "audit" }
