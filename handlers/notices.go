package handlers

import (
	"context"
	"slices"

	"github.com/usher-chat/usher/handlers/org"
)

// heard keeps the deliveries whose recipients are to hear them: notices to
// deactivated users go (the rule is org.Notified). Every notice about
// someone's invitations or role passes here; their own account's news does
// not (setStatus tells them directly). Statuses come from snap where it read
// them, else from one read of the rest. That read follows a commit, so when
// it fails the notices go out rather than the command being reported failed.
func (s *Service) heard(ctx context.Context, snap *org.Snapshot, ds []Delivery) []Delivery {
	known := func(email string) (*org.User, bool) {
		if snap == nil {
			return nil, false
		}
		if snap.Actor != nil && snap.Actor.Email == email {
			return snap.Actor, true
		}
		u, ok := snap.Users[email]
		return u, ok
	}
	var unread []string
	for _, d := range ds {
		if _, ok := known(d.To); !ok && d.Kind == DeliverNotice && !slices.Contains(unread, d.To) {
			unread = append(unread, d.To)
		}
	}
	users := map[string]*org.User{}
	if len(unread) > 0 {
		more, err := s.store.Load(ctx, org.Query{Users: unread})
		if err != nil {
			s.log.WarnContext(ctx, "notices: could not read their recipients; sending them all", "err", err)
			return ds
		}
		users = more.Users
	}
	out := ds[:0:0]
	for _, d := range ds {
		u, ok := known(d.To)
		if !ok {
			u = users[d.To]
		}
		if d.Kind == DeliverNotice && !org.Notified(u) {
			continue
		}
		out = append(out, d)
	}
	return out
}
