package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/usher-chat/usher/bot/scheduler"
	"github.com/usher-chat/usher/handlers"
)

// mountScheduler runs the scheduler, which wakes the sweep (reminders,
// expiry, the admin digest) on the organization's reminder-schedule and
// digest-schedule. Every replica runs one: the due work is claimed item by
// item in Redis, so several replicas share a run and each reminder goes out
// once. What a run has for people goes through the delivery router.
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
	r, err := scheduler.New(scheduler.Config{
		Service: s.svc,
		Deliver: func(ctx context.Context, ds []handlers.Delivery) error {
			if err := s.deliverAll(ctx, ds); err != nil {
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
	s.background = append(s.background, r.Run)
	return nil
}
