package storage

import (
	"context"
	_ "embed"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/usher-chat/usher/handlers/org"
)

// A bulk invitation's progress record (usher:{org}:progress:ID): its counts
// are written by commits (commit_progress.go), in the step that creates the
// invitations or records their delivery; the message that shows them is
// anchored and updated through progress.lua, one update at a time.

var (
	//go:embed lua/progress.lua
	progressSource string
	progressScript = redis.NewScript(progressSource)
)

// AnchorProgress remembers where the progress message was posted.
func (s *Store) AnchorProgress(ctx context.Context, id string, a org.ProgressAnchor) error {
	err := progressScript.Run(ctx, s.rdb, []string{s.keys.progress(id)}, "anchor", a.Platform, a.Channel, a.Message, a.UserID, a.Workspace).Err()
	return wrap("anchor progress "+id, err)
}

// ClaimProgress asks to update the progress message: due (with a lease for
// lease, and the state to show) when something changed and the last update
// is at least every old, or the count just became final.
func (s *Store) ClaimProgress(ctx context.Context, id, token string, every, lease time.Duration) (org.ProgressClaim, error) {
	res, err := progressScript.Run(ctx, s.rdb, []string{s.keys.progress(id)}, "claim",
		every.Milliseconds(), lease.Milliseconds(), token).Slice()
	if err != nil {
		return org.ProgressClaim{}, wrap("claim progress "+id, err)
	}
	switch asString(res[0]) {
	case "later":
		return org.ProgressClaim{RetryIn: time.Duration(asInt(res[1])) * time.Millisecond}, nil
	case "due":
		if len(res) < 13 {
			return org.ProgressClaim{}, fmt.Errorf("claim progress %s: short reply %q", id, res)
		}
		n := func(i int) int { v, _ := strconv.Atoi(asString(res[i])); return v }
		st := org.ProgressState{ID: id, Total: n(2), Delivered: n(3), Emailed: n(4), Unreachable: n(5), Sealed: asString(res[6]) == "1", Sender: asString(res[7]),
			Anchor: org.ProgressAnchor{Platform: asString(res[8]), Channel: asString(res[9]), Message: asString(res[10]), UserID: asString(res[11]), Workspace: asString(res[12])}}
		st.NoLinks = len(res) > 13 && asString(res[13]) == "1" // a script of the previous version answers 13
		return org.ProgressClaim{Due: true, Token: asString(res[1]), State: st}, nil
	}
	return org.ProgressClaim{}, nil
}

// ProgressShown returns the lease of an update that showed settled
// invitations (final: all of them). It answers how soon to update again
// when the counts moved on meanwhile (0: no need).
func (s *Store) ProgressShown(ctx context.Context, id, token string, settled int, final bool, every time.Duration) (time.Duration, error) {
	f := "0"
	if final {
		f = "1"
	}
	res, err := progressScript.Run(ctx, s.rdb, []string{s.keys.progress(id)}, "shown", token, settled, f, every.Milliseconds()).Slice()
	if err != nil {
		return 0, wrap("progress shown "+id, err)
	}
	if asString(res[0]) == "again" && len(res) > 1 {
		return max(time.Duration(asInt(res[1]))*time.Millisecond, time.Millisecond), nil
	}
	return 0, nil
}

// Progress reads a progress record (tests, and the handlers' own checks).
func (s *Store) Progress(ctx context.Context, id string) (org.ProgressState, bool, error) {
	m, err := s.rdb.HGetAll(ctx, s.keys.progress(id)).Result()
	if err != nil {
		return org.ProgressState{}, false, wrap("read progress "+id, err)
	}
	if len(m) == 0 {
		return org.ProgressState{}, false, nil
	}
	return progressState(id, m), true, nil
}

func progressState(id string, m map[string]string) org.ProgressState {
	n := func(f string) int { v, _ := strconv.Atoi(m[f]); return v }
	return org.ProgressState{ID: id, Total: n("total"), Delivered: n("delivered"), Emailed: n("emailed"), Unreachable: n("unreachable"),
		Sealed: m["sealed"] == "1", Sender: m["sender"], NoLinks: m["nolinks"] == "1",
		Anchor: org.ProgressAnchor{Platform: m["a_platform"], Channel: m["a_channel"], Message: m["a_message"], UserID: m["a_user"], Workspace: m["a_ws"]}}
}

// ProgressUnreachable reads the invitees of progress record id that no
// platform reached, positions [from, to) in the order they settled, with
// the record and how many are listed, in one round trip (MULTI: both keys
// share the organization's hash tag, so one Cluster slot). ok is false when
// the record is gone (expired, or never was).
func (s *Store) ProgressUnreachable(ctx context.Context, id string, from, to int) (org.UnreachablePage, bool, error) {
	list := s.keys.progressUnreachable(id)
	var rec *redis.MapStringStringCmd
	var n *redis.IntCmd
	var ids *redis.StringSliceCmd
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		rec = p.HGetAll(ctx, s.keys.progress(id))
		n = p.ZCard(ctx, list)
		if to > from {
			ids = p.ZRange(ctx, list, int64(from), int64(to-1))
		}
		return nil
	})
	if err != nil {
		return org.UnreachablePage{}, false, wrap("read progress "+id+" unreachable", err)
	}
	if len(rec.Val()) == 0 {
		return org.UnreachablePage{}, false, nil
	}
	out := org.UnreachablePage{State: progressState(id, rec.Val()), Listed: int(n.Val())}
	if ids != nil {
		out.Invitations = ids.Val()
	}
	return out, true, nil
}
