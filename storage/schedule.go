package storage

import (
	"context"
	"crypto/rand"
	_ "embed"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/usher-chat/usher/handlers/org"
)

// Scheduled work (reminders, expiry, the admin digest) is found through the
// organization's due zset: ONE member per pending invitation ("inv:ID", scored
// by its next reminder or its expiry, whichever comes first: org.NextDue),
// which Commit keeps in step with the invitation, and one "digest" member
// scored by the digest's next slot. Replicas take work with Claim, which moves
// due members into the claimed zset under a lease, and Ack, which drops the
// claim once the work is committed. A replica that dies holding a claim loses
// it when the lease ends: the next Claim by anyone puts the item back.
//
// One member per invitation rather than one per kind of event halves the
// index's memory and the claims, and the use case decides from the invitation
// itself what is due (expiry wins over a reminder).

var (
	//go:embed lua/claim.lua
	claimSource string
	claimScript = redis.NewScript(claimSource)
)

// dueInvitation is the due member of a pending invitation.
func dueInvitation(id string) string { return org.DueInvitation + ":" + id }

// msOrEmpty is ms for a time that may be unset, where unset reads as "" (an
// absent hash field) rather than "0".
func msOrEmpty(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return ms(t)
}

// readScheduled adds Load's reads for Query.Invitations and Query.Digest.
func readScheduled(k keys, q org.Query, read func(func(*org.Snapshot, any) error, string, string, ...string)) {
	for _, id := range q.Invitations {
		read(func(sn *org.Snapshot, v any) error {
			inv, err := decodeInvitation(asMap(v))
			if inv != nil {
				if sn.Invitations == nil {
					sn.Invitations = map[string]*org.Invitation{}
				}
				sn.Invitations[id] = inv
			}
			return err
		}, "hgetall", k.inv(id))
	}
	if q.Digest {
		read(func(sn *org.Snapshot, v any) error {
			h := asMap(v)
			sn.Digest = org.DigestState{Next: fromMS(h["next"]), Schedule: h["sched"]}
			return nil
		}, "hgetall", k.digest())
	}
}

// commitDigest moves the admin digest to its next slot, guarded by the slot
// read, so that one digest goes out per slot however many replicas try.
func commitDigest(o *ops, k keys, d *org.DigestWrite) {
	if d == nil {
		return
	}
	o.guard(stale, "digest", "hfeq", k.digest(), "next", msOrEmpty(d.ExpectNext))
	o.add("hset", k.digest(), "next", msOrEmpty(d.Next), "sched", d.Schedule)
	if d.Next.IsZero() {
		o.add("zrem", k.due(), org.DueDigest)
	} else {
		o.add("zadd", k.due(), ms(d.Next), org.DueDigest)
	}
}

// Claim takes up to max items due at or before now for the caller, for lease:
// until the caller acknowledges them with Ack, nobody else gets them; if it
// does not within lease, the next Claim (by any replica) hands them on. One
// round trip; the cost is proportional to the items moved.
func (s *Store) Claim(ctx context.Context, now time.Time, lease time.Duration, max int) ([]org.DueItem, error) {
	if max <= 0 {
		return nil, nil
	}
	if lease < time.Millisecond {
		lease = time.Millisecond
	}
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		return nil, fmt.Errorf("claim: %w", err)
	}
	k := s.keys
	res, err := claimScript.Run(ctx, s.rdb, []string{k.due(), k.claimed()},
		strconv.FormatInt(now.UnixMilli(), 10), strconv.FormatInt(lease.Milliseconds(), 10), strconv.Itoa(max), hex.EncodeToString(b),
	).StringSlice()
	if err != nil {
		return nil, wrap("claim due work", err)
	}
	items := make([]org.DueItem, 0, len(res)/3)
	for i := 0; i+2 < len(res); i += 3 {
		score, _ := strconv.ParseFloat(res[i+1], 64)
		it := org.DueItem{Kind: res[i], At: time.UnixMilli(int64(score)).UTC(), Claim: res[i+2]}
		if kind, id, ok := strings.Cut(res[i], ":"); ok {
			it.Kind, it.InvitationID = kind, id
		}
		items = append(items, it)
	}
	return items, nil
}

// Ack drops the claims on items whose work is done (committed). Acknowledging
// a claim that already ended, or twice, does nothing.
func (s *Store) Ack(ctx context.Context, items []org.DueItem) error {
	members := make([]any, 0, len(items))
	for _, it := range items {
		if it.Claim != "" {
			members = append(members, it.Claim)
		}
	}
	if len(members) == 0 {
		return nil
	}
	return wrap("acknowledge due work", s.rdb.ZRem(ctx, s.keys.claimed(), members...).Err())
}
