package org

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// maxDuration bounds every duration people type: nothing in usher waits
// longer, and the bound keeps sums of terms far from overflowing.
const maxDuration = 10 * 365 * 24 * time.Hour

// ParseDuration extends time.ParseDuration with days ("7d") and weeks ("2w"),
// the units people use for expiries, and accepts combinations like "1d12h".
// Negative durations and anything over ten years are refused.
func ParseDuration(s string) (time.Duration, error) {
	in := strings.ToLower(strings.TrimSpace(s))
	if in == "" {
		return 0, fmt.Errorf("empty duration")
	}
	var total time.Duration
	rest := in
	for rest != "" {
		i := 0
		for i < len(rest) && (rest[i] >= '0' && rest[i] <= '9') {
			i++
		}
		if i == 0 || i == len(rest) {
			break
		}
		unit := rest[i]
		if unit != 'd' && unit != 'w' {
			break
		}
		n, err := strconv.Atoi(rest[:i])
		if err != nil || n > 10000 {
			return 0, fmt.Errorf("duration %q is out of range", s)
		}
		day := 24 * time.Hour
		if unit == 'w' {
			day *= 7
		}
		total += time.Duration(n) * day
		if total > maxDuration {
			return 0, fmt.Errorf("duration %q is out of range", s)
		}
		rest = rest[i+1:]
	}
	if rest != "" {
		d, err := time.ParseDuration(rest)
		if err != nil {
			return 0, fmt.Errorf("%q is not a duration", s)
		}
		if d < 0 || d > maxDuration {
			return 0, fmt.Errorf("duration %q is out of range", s)
		}
		total += d
	}
	if total > maxDuration {
		return 0, fmt.Errorf("duration %q is out of range", s)
	}
	return total, nil
}

// FormatDuration renders a duration the way people say it: "7d", "36h", "90m".
func FormatDuration(d time.Duration) string {
	switch {
	case d <= 0:
		return "0s"
	case d%(24*time.Hour) == 0:
		return strconv.FormatInt(int64(d/(24*time.Hour)), 10) + "d"
	case d%time.Hour == 0:
		return strconv.FormatInt(int64(d/time.Hour), 10) + "h"
	case d%time.Minute == 0:
		return strconv.FormatInt(int64(d/time.Minute), 10) + "m"
	}
	return d.String()
}

// Ago renders how long ago t was, relative to now, in coarse words.
func Ago(now, t time.Time) string {
	d := now.Sub(t)
	switch {
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return fmt.Sprintf("%dm ago", int(d/time.Minute))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh ago", int(d/time.Hour))
	}
	return fmt.Sprintf("%dd ago", int(d/(24*time.Hour)))
}

// In renders how far in the future t is.
func In(now, t time.Time) string {
	d := t.Sub(now)
	switch {
	case d <= 0:
		return "now"
	case d < time.Hour:
		return fmt.Sprintf("in %dm", int((d+time.Minute-1)/time.Minute)) // round up: "in 0m" would say "now"
	case d < 48*time.Hour:
		return fmt.Sprintf("in %dh", int(d/time.Hour))
	}
	// Round to the nearest day: "in 6d" for an invitation sent a second ago would mislead.
	return fmt.Sprintf("in %dd", int((d+12*time.Hour)/(24*time.Hour)))
}
