package org_test

import (
	"strings"
	"testing"
	"time"

	"github.com/usher-chat/usher/handlers/org"
)

const day = 24 * time.Hour

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in      string
		want    time.Duration
		wantErr bool
	}{
		{in: "7d", want: 7 * day},
		{in: "7D", want: 7 * day},
		{in: " 7d ", want: 7 * day},
		{in: "72h", want: 72 * time.Hour},
		{in: "1d12h", want: 36 * time.Hour},
		{in: "2w", want: 14 * day},
		{in: "1w2d", want: 9 * day},
		{in: "1d1h30m", want: 25*time.Hour + 30*time.Minute},
		{in: "90m", want: 90 * time.Minute},
		{in: "30s", want: 30 * time.Second},
		{in: "1h30m", want: 90 * time.Minute},
		{in: "0", want: 0},
		{in: "0d", want: 0},
		{in: "3650d", want: 3650 * day},

		{in: "", wantErr: true},
		{in: "   ", wantErr: true},
		{in: "d", wantErr: true},
		{in: "w", wantErr: true},
		{in: "-1d", wantErr: true},
		{in: "abc", wantErr: true},
		{in: "7x", wantErr: true},
		{in: "7", wantErr: true},
		{in: "1.5d", wantErr: true},
		{in: "d7", wantErr: true},
		{in: "1h1d", wantErr: true}, // days and weeks come first
		{in: "1d 12h", wantErr: true},
		{in: "10001d", wantErr: true},
		{in: "99999999999999999999d", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := org.ParseDuration(tt.in)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("ParseDuration(%q) = %v, want an error", tt.in, got)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseDuration(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestFormatDuration(t *testing.T) {
	tests := []struct {
		in   time.Duration
		want string
	}{
		{0, "0s"},
		{-time.Hour, "0s"},
		{day, "1d"},
		{7 * day, "7d"},
		{14 * day, "14d"},
		{36 * time.Hour, "36h"},
		{72 * time.Hour, "3d"},
		{time.Hour, "1h"},
		{90 * time.Minute, "90m"},
		{time.Minute, "1m"},
		{90 * time.Second, "1m30s"},
		{1500 * time.Millisecond, "1.5s"},
	}
	for _, tt := range tests {
		if got := org.FormatDuration(tt.in); got != tt.want {
			t.Errorf("FormatDuration(%v) = %q, want %q", tt.in, got, tt.want)
		}
	}
	// What FormatDuration writes, ParseDuration reads back.
	for _, d := range []time.Duration{time.Second, 90 * time.Second, time.Minute, 90 * time.Minute, time.Hour, 36 * time.Hour, day, 7 * day, 90 * day, 1500 * time.Millisecond} {
		s := org.FormatDuration(d)
		back, err := org.ParseDuration(s)
		if err != nil || back != d {
			t.Errorf("ParseDuration(FormatDuration(%v) = %q) = %v, %v", d, s, back, err)
		}
	}
}

func TestAgo(t *testing.T) {
	now := time.Date(2026, 1, 2, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		before time.Duration // t = now - before
		want   string
	}{
		{0, "just now"},
		{-time.Hour, "just now"}, // a time in the future
		{59 * time.Second, "just now"},
		{time.Minute, "1m ago"},
		{5 * time.Minute, "5m ago"},
		{59*time.Minute + 59*time.Second, "59m ago"},
		{time.Hour, "1h ago"},
		{90 * time.Minute, "1h ago"},
		{47*time.Hour + 59*time.Minute, "47h ago"},
		{48 * time.Hour, "2d ago"},
		{71 * time.Hour, "2d ago"},
		{7 * day, "7d ago"},
		{400 * day, "400d ago"},
	}
	for _, tt := range tests {
		if got := org.Ago(now, now.Add(-tt.before)); got != tt.want {
			t.Errorf("Ago(now, now-%v) = %q, want %q", tt.before, got, tt.want)
		}
	}
}

func TestIn(t *testing.T) {
	now := time.Date(2026, 1, 2, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		after time.Duration // t = now + after
		want  string
	}{
		{0, "now"},
		{-time.Hour, "now"},
		{time.Second, "in 1m"},
		{30 * time.Second, "in 1m"},
		{4*time.Minute + 30*time.Second, "in 5m"}, // minutes round up
		{time.Hour, "in 1h"},
		{90 * time.Minute, "in 1h"}, // hours round down
		{47*time.Hour + 59*time.Minute, "in 47h"},
		{48 * time.Hour, "in 2d"},
		{2*day + 11*time.Hour, "in 2d"}, // days round to the nearest
		{2*day + 12*time.Hour, "in 3d"},
		{7*day - time.Second, "in 7d"}, // an invitation sent a second ago
		{7 * day, "in 7d"},
	}
	for _, tt := range tests {
		if got := org.In(now, now.Add(tt.after)); got != tt.want {
			t.Errorf("In(now, now+%v) = %q, want %q", tt.after, got, tt.want)
		}
	}
}

func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"7d", "72h", "1d12h", "2w", "90m", "", "d", "-1d", "abc", "7x", "10000w", "1w1d1h1m1s", "-72h", "0", "1.5h"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := org.ParseDuration(s)
		if err != nil {
			if d != 0 {
				t.Fatalf("ParseDuration(%q) = %v along with error %v", s, d, err)
			}
			return
		}
		if !strings.Contains(s, "-") && d < 0 {
			t.Fatalf("ParseDuration(%q) = %v: negative without a '-'", s, d)
		}
	})
}
