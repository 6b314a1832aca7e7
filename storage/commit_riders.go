package storage

import (
	"context"

	"github.com/redis/go-redis/v9"

	"github.com/usher-chat/usher/handlers/org"
)

// What rides with a commit's script call. On one Redis server (a
// *redis.Client: standalone, or Sentinel's failover client) the person
// index's entries go in the same round trip as the script, before it, and
// the fleet's rings after it: one connection runs them in that order, so
// the index holds the entry before the commit that needs it (people.go) and
// a worker woken by a ring finds the work. They used to be a round trip
// each, as many as the commit's own (cmd/usher BenchmarkSlackLoad: 3.1
// round trips an invite at 16 clients). On a cluster they are other slots,
// perhaps other nodes: the entries go in a round trip of their own before
// the call (apply), the rings after it (Commit), as before.
type riders struct {
	people []string          // emails for the person index of the store's organization
	rings  map[ringKey]int64 // fleet rings (fleet_ring.go)
}

func (r riders) empty() bool { return len(r.people) == 0 && len(r.rings) == 0 }

// riding reports whether riders share the script's round trip (above).
func (s *Store) riding() bool {
	_, ok := s.rdb.(*redis.Client)
	return ok
}

// ridersOf is what rides with the call of changes[run...].
func (s *Store) ridersOf(changes []org.Change, run []int) riders {
	var r riders
	for _, i := range run {
		if s.indexPeople {
			r.people = append(r.people, peopleOf(changes[i])...)
		}
		if s.fleet == nil {
			continue
		}
		for k, at := range s.ringsOf(changes[i]) {
			if r.rings == nil {
				r.rings = map[ringKey]int64{}
			}
			if have, ok := r.rings[k]; !ok || at < have {
				r.rings[k] = at
			}
		}
	}
	return r
}

// peopleOf are the emails ch makes an invitee or a member of the
// organization, which the person index must name before ch commits.
func peopleOf(ch org.Change) []string {
	var emails []string
	for _, w := range ch.Invitations {
		if w.Expect == "" && w.Invitation != nil {
			emails = append(emails, w.Invitation.Email)
		}
	}
	for _, w := range ch.Users {
		if w.Version == 0 && w.User != nil {
			emails = append(emails, w.User.Email)
		}
	}
	return emails
}

// rode is what a call's pipeline carried besides the script.
type rode struct {
	adds  []*redis.IntCmd
	rings []*redis.Cmd
}

func (r riders) before(ctx context.Context, p redis.Pipeliner, id org.ID) rode {
	var sent rode
	for _, e := range r.people {
		sent.adds = append(sent.adds, p.SAdd(ctx, personOrgs(e), string(id)))
	}
	return sent
}

func (r riders) after(ctx context.Context, p redis.Pipeliner, sent *rode) {
	for k, at := range r.rings {
		sent.rings = append(sent.rings, fleetRing.EvalSha(ctx, p, fleetKeys(k.kind)[:3], string(k.org), at))
	}
}

// only reports whether err, the pipeline's first error, is a rider's reply:
// a rider's failure is not the commit's.
func (sent rode) only(err error) bool {
	for _, c := range sent.adds {
		if c.Err() == err {
			return true
		}
	}
	for _, c := range sent.rings {
		if c.Err() == err {
			return true
		}
	}
	return false
}

// settleRiders makes up for riders that failed when the call itself went
// through: an entry is noted again on its own (the commit did apply, and
// an entry missing would hide the invitation from the person), and the
// rings are sent on their own (Ring loads a script a restarted Redis lost).
func (s *Store) settleRiders(ctx context.Context, r riders, sent rode) {
	var missing []string
	for i, c := range sent.adds {
		if c.Err() != nil {
			missing = append(missing, r.people[i])
		}
	}
	if len(missing) > 0 {
		if err := s.People().Note(ctx, s.keys.org, missing...); err != nil {
			s.fleet.logger().ErrorContext(ctx, "person index: entries missing for a commit that applied; `usher org reindex` repairs them",
				"org", s.keys.org, "people", len(missing), "err", err)
		}
	}
	if len(sent.rings) == 0 {
		return
	}
	for _, c := range sent.rings {
		if c.Err() != nil {
			s.ring(ctx, r.rings)
			return
		}
	}
	if s.fleet.Notify != nil {
		for k := range r.rings {
			s.fleet.Notify(k.kind, k.org)
		}
	}
}
