package storage

import (
	"context"
	_ "embed"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/usher-chat/usher/handlers/org"
)

var (
	//go:embed lua/migrate_user.lua
	migrateUserSource string
	//go:embed lua/migrate_invitation.lua
	migrateInvitationSource string
	//go:embed lua/migrate_chat.lua
	migrateChatSource string

	migrateUserScript       = redis.NewScript(migrateUserSource)
	migrateInvitationScript = redis.NewScript(migrateInvitationSource)
	migrateChatScript       = redis.NewScript(migrateChatSource)
)

// EmailCaseConflict is one person stored twice by versions before the
// identity rule: two user records, or two open invitations, whose addresses
// differ only by case.
type EmailCaseConflict struct {
	Identity string   // the address lower-cased
	Kind     string   // "users" or "open invitations"
	Records  []string // the Redis keys (users) or invitation ids with their spelling
	Fix      string   // what an operator does about it
}

// EmailCaseConflictError refuses a start: merging two accounts, or choosing
// between two invitations, is a person's decision, never a migration's.
type EmailCaseConflictError struct {
	Org       string
	Conflicts []EmailCaseConflict
}

func (e *EmailCaseConflictError) Error() string {
	var b strings.Builder
	who := fmt.Sprintf("%d people are", len(e.Conflicts))
	if len(e.Conflicts) == 1 {
		who = "1 person is"
	}
	fmt.Fprintf(&b, "organization %s: %s stored twice under spellings that differ only by case; "+
		"usher now compares the whole address case-insensitively and will not merge them on its own. Resolve each, then start again:",
		e.Org, who)
	for _, c := range e.Conflicts {
		fmt.Fprintf(&b, "\n  - %s %s: %s\n    %s", c.Kind, c.Identity, strings.Join(c.Records, ", "), c.Fix)
	}
	return b.String()
}

// EmailCaseReport says what MigrateEmailCase moved.
type EmailCaseReport struct {
	Users, Invitations, ChatLinks int
}

// MigrateEmailCase moves what versions before the identity rule (an email's
// identity is the whole address lower-cased, org.EmailKey) stored under
// spellings with capitals: user records and the users, admins, sessions,
// by: and quota indexes, open invitations' invitee and inviter, and the chat
// identity index. Each person moves in one Lua call, so a crash leaves every
// person either moved or not. It reads only the organization's own indexes
// (no SCAN), so it is cheap enough to run at every start, and a second run
// finds nothing to do. When two records are one person it moves nothing and
// returns *EmailCaseConflictError naming them.
func (s *Store) MigrateEmailCase(ctx context.Context, now time.Time) (EmailCaseReport, error) {
	var rep EmailCaseReport
	k := s.keys
	users, err := s.rdb.ZRange(ctx, k.users(), 0, -1).Result()
	if err != nil {
		return rep, wrap("migrate email case: users", err)
	}
	open, err := s.rdb.HGetAll(ctx, k.openIndex()).Result()
	if err != nil {
		return rep, wrap("migrate email case: open invitations", err)
	}

	// First every conflict, all at once, before anything is written.
	var conflicts []EmailCaseConflict
	moves := map[string]string{} // spelling -> identity, for user records
	for id, spellings := range groupBySpelling(users) {
		var stored []string
		for _, sp := range spellings {
			n, err := s.rdb.Exists(ctx, k.prefix+"user:"+sp).Result()
			if err != nil {
				return rep, wrap("migrate email case: user "+sp, err)
			}
			if n == 1 {
				stored = append(stored, sp)
			}
		}
		if len(stored) > 1 {
			conflicts = append(conflicts, userConflict(k, id, stored))
			continue
		}
		for _, sp := range spellings {
			if sp != id {
				moves[sp] = id
			}
		}
	}
	for id, spellings := range groupBySpelling(slices.Collect(maps.Keys(open))) {
		if len(spellings) > 1 {
			conflicts = append(conflicts, openConflict(k, id, spellings, open))
		}
	}
	if len(conflicts) > 0 {
		slices.SortFunc(conflicts, func(a, b EmailCaseConflict) int { return strings.Compare(a.Kind+a.Identity, b.Kind+b.Identity) })
		return rep, &EmailCaseConflictError{Org: string(k.org), Conflicts: conflicts}
	}

	// The quota counters live 48 h: the days that may still have one.
	var days []string
	for d := 0; d <= 2; d++ {
		days = append(days, now.UTC().Add(-time.Duration(d)*24*time.Hour).Format("20060102"))
	}
	for _, sp := range slices.Sorted(maps.Keys(moves)) {
		id := moves[sp]
		keys := []string{k.prefix + "user:" + sp, k.user(id), k.users(), k.admins(),
			k.prefix + "sessions:" + sp, k.sessions(id), k.prefix + "by:" + sp, k.by(id)}
		for _, d := range days {
			keys = append(keys, k.prefix+"quota:"+sp+":"+d, k.quota(id, d))
		}
		res, err := migrateUserScript.Run(ctx, s.rdb, keys, sp, id, k.sessionPrefix()).StringSlice()
		if err != nil {
			return rep, wrap("migrate email case: user "+sp, err)
		}
		if res[0] == "conflict" { // written meanwhile by a replica of the previous version
			return rep, &EmailCaseConflictError{Org: string(k.org), Conflicts: []EmailCaseConflict{userConflict(k, id, []string{sp, id})}}
		}
		if len(res) > 1 && res[1] == "1" {
			rep.Users++
		}
	}

	// Open invitations: those the open index, the pending list and the
	// requests know (terminal ones are history and keep their spelling).
	ids := map[string]bool{}
	for _, id := range open {
		ids[id] = true
	}
	for _, z := range []string{k.pending(), k.requests()} {
		more, err := s.rdb.ZRange(ctx, z, 0, -1).Result()
		if err != nil {
			return rep, wrap("migrate email case: invitations", err)
		}
		for _, id := range more {
			ids[id] = true
		}
	}
	for _, id := range slices.Sorted(maps.Keys(ids)) {
		f, err := s.rdb.HMGet(ctx, k.inv(id), "email", "by").Result()
		if err != nil {
			return rep, wrap("migrate email case: invitation "+id, err)
		}
		email, _ := f[0].(string)
		by, _ := f[1].(string)
		if email == "" || email == org.EmailKey(email) && by == org.EmailKey(by) {
			continue // gone, or nothing to move: no script call for the common case
		}
		res, err := migrateInvitationScript.Run(ctx, s.rdb, []string{k.inv(id), k.openIndex(), k.prefix + "by:" + by, k.by(by)}, id).StringSlice()
		if err != nil {
			return rep, wrap("migrate email case: invitation "+id, err)
		}
		if res[0] == "conflict" {
			return rep, &EmailCaseConflictError{Org: string(k.org), Conflicts: []EmailCaseConflict{{Identity: org.EmailKey(email), Kind: "open invitations",
				Records: []string{"invitation " + id, "invitation " + res[1]}, Fix: openFix(k)}}}
		}
		if res[1] == "1" {
			rep.Invitations++
		}
	}

	n, err := migrateChatScript.Run(ctx, s.rdb, []string{k.chat()}).Int()
	if err != nil {
		return rep, wrap("migrate email case: chat identities", err)
	}
	rep.ChatLinks = n
	return rep, nil
}

// groupBySpelling groups addresses by identity, keeping only the identities
// that some address spells with capitals or that several addresses share.
func groupBySpelling(emails []string) map[string][]string {
	all := map[string][]string{}
	for _, e := range emails {
		id := org.EmailKey(e)
		all[id] = append(all[id], e)
	}
	for id, sp := range all {
		if len(sp) == 1 && sp[0] == id {
			delete(all, id)
		} else {
			slices.Sort(sp)
		}
	}
	return all
}

func userConflict(k keys, id string, spellings []string) EmailCaseConflict {
	c := EmailCaseConflict{Identity: id, Kind: "users"}
	for _, sp := range spellings {
		c.Records = append(c.Records, k.prefix+"user:"+sp)
	}
	drop := spellings[0]
	c.Fix = fmt.Sprintf("Keep the account the person uses and delete the other while no usher runs, e.g. for %s: "+
		"redis-cli DEL '%suser:%s' '%ssessions:%s' && redis-cli ZREM '%s' '%s' && redis-cli SREM '%s' '%s' "+
		"(mind the last admin: keep at least one active admin).",
		drop, k.prefix, drop, k.prefix, drop, k.users(), drop, k.admins(), drop)
	return c
}

func openConflict(k keys, id string, spellings []string, open map[string]string) EmailCaseConflict {
	c := EmailCaseConflict{Identity: id, Kind: "open invitations", Fix: openFix(k)}
	for _, sp := range spellings {
		c.Records = append(c.Records, fmt.Sprintf("invitation %s (for %s)", open[sp], sp))
	}
	return c
}

func openFix(k keys) string {
	return fmt.Sprintf("Revoke one of them (revoke ID, with the previous usher version), or drop its pointer so it simply expires: "+
		"redis-cli HDEL '%s' 'SPELLING'.", k.openIndex())
}
