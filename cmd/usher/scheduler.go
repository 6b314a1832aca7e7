package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/usher-chat/usher/bot/scheduler"
	"github.com/usher-chat/usher/handlers"
	"github.com/usher-chat/usher/handlers/org"
	"github.com/usher-chat/usher/storage"
)

// mountScheduler runs the scheduler: one loop over every organization's
// scheduled work (reminders, expiry, the admin digest), found through the
// due-organizations index (storage.Fleet), so an idle organization costs
// nothing per tick. Every replica runs one: an organization is worked by
// one replica at a time (its lease in the index) and its due work is
// claimed item by item in Redis, so each reminder goes out once. What a run
// has for people goes through the organization's delivery router.
//
//	USHER_SCHEDULER   on (default) or off: off leaves scheduled work to other replicas
func mountScheduler(s *server) error {
	switch v := strings.ToLower(strings.TrimSpace(s.getenv("USHER_SCHEDULER"))); v {
	case "", "on":
	case "off":
		s.log.Info("scheduler off (USHER_SCHEDULER=off): reminders and expiry run on other replicas")
		return nil
	default:
		return fmt.Errorf("USHER_SCHEDULER %q: want on or off", v)
	}
	f, err := scheduler.NewFleet(scheduler.FleetConfig{
		Index: s.fleet.Index(storage.FleetSchedule),
		Org: func(_ context.Context, id org.ID) (scheduler.Work, error) {
			t, err := s.orgs.get(id)
			if err != nil {
				return nil, nil // not an organization id: it leaves the index
			}
			return orgWork{t.svc, t.store}, nil
		},
		Deliver: func(ctx context.Context, id org.ID, ds []handlers.Delivery) error {
			t, err := s.orgs.get(id)
			if err != nil {
				return err
			}
			if err := s.deliverFor(ctx, t, ds); err != nil {
				return err
			}
			// A run's invitation deliveries are its reminders (expiry
			// notices and digests are notices).
			n := 0
			for _, d := range ds {
				if d.Kind == handlers.DeliverInvitation {
					n++
				}
			}
			s.metrics.ReminderSent(n)
			return nil
		},
		Log: s.log.With("part", "scheduler"),
		Now: s.svc.Clock(),
	})
	if err != nil {
		return err
	}
	s.background = append(s.background, f.Run)
	return nil
}

// orgWork is one organization's scheduled work as the scheduler does it:
// its use cases' sweep, and its store's next due time.
type orgWork struct {
	*handlers.Service
	*storage.Store
}
