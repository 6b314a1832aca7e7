// Package scheduler wakes usher's scheduled work (reminders, expiry, the admin
// digest) on each organization's cron schedule. The due times themselves live
// in the store (a sorted set per organization), and each due item is claimed
// atomically there, so the schedule only says when to look: a replica that
// restarts, or several replicas waking at once, cannot send anything twice.
//
// Next is the only place that parses cron specs (github.com/robfig/cron/v3);
// the use cases get it as the handlers.Config.NextTime port.
package scheduler

import (
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/usher-chat/usher/handlers/org"
)

// Next returns the first time after `after` at which spec fires, reading the
// spec in its own CRON_TZ= zone if it names one, else in zone tz ("" = UTC).
// It accepts what the settings accept: 5-field specs and @daily-style
// descriptors (not @every, which has no fixed times). A spec that never fires
// within five years is an error.
func Next(spec, tz string, after time.Time) (time.Time, error) {
	sched, err := parse(spec, tz)
	if err != nil {
		return time.Time{}, err
	}
	next := sched.Next(after)
	if next.IsZero() {
		return time.Time{}, fmt.Errorf("%q never falls due", spec)
	}
	return next.UTC(), nil
}

var cache struct {
	sync.Mutex
	m map[string]*cron.SpecSchedule
}

// parse reads spec in its zone, with a small cache: a tick aligns every
// reminder it plans to the schedule, so the same spec is read many times.
func parse(spec, tz string) (*cron.SpecSchedule, error) {
	key := tz + "\x00" + spec
	cache.Lock()
	s, ok := cache.m[key]
	cache.Unlock()
	if ok {
		return s, nil
	}
	s, err := parseUncached(spec, tz)
	if err != nil {
		return nil, err
	}
	cache.Lock()
	if cache.m == nil || len(cache.m) > 1000 {
		cache.m = map[string]*cron.SpecSchedule{}
	}
	cache.m[key] = s
	cache.Unlock()
	return s, nil
}

func parseUncached(spec, tz string) (s *cron.SpecSchedule, err error) {
	zone, body := org.SplitSchedule(spec)
	if zone == "" {
		zone = tz
	}
	if zone == "" {
		zone = "UTC"
	}
	// The zone is loaded here rather than by robfig/cron, whose parser panics
	// on some malformed CRON_TZ= prefixes and accepts "Local".
	if zone == "Local" {
		return nil, fmt.Errorf("time zone %q: name an IANA zone such as Europe/Paris", zone)
	}
	loc, err := time.LoadLocation(zone)
	if err != nil {
		return nil, fmt.Errorf("time zone %q: %v", zone, err)
	}
	if strings.HasPrefix(strings.ToLower(body), "@every") {
		return nil, fmt.Errorf("%s has no fixed times; write them as 5 fields, e.g. \"*/30 * * * *\"", body)
	}
	defer func() {
		if r := recover(); r != nil { // never let an admin's typo take a replica down
			s, err = nil, fmt.Errorf("%q is not a cron spec", body)
		}
	}()
	parsed, err := cron.ParseStandard(body)
	if err != nil {
		return nil, fmt.Errorf("%q is not a cron spec: %v", body, err)
	}
	ss, ok := parsed.(*cron.SpecSchedule)
	if !ok {
		return nil, fmt.Errorf("%q has no fixed times", body)
	}
	c := *ss
	c.Location = loc
	return &c, nil
}
