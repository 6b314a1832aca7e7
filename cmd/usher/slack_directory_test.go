package main

import (
	"strings"
	"testing"
)

// TestSlackDirectoryRefreshConfig: SLACK_DIRECTORY_REFRESH is a cron spec
// in UTC (default daily at 04:00) or off; anything else is refused at start,
// naming the variable.
func TestSlackDirectoryRefreshConfig(t *testing.T) {
	for _, tc := range []struct {
		value, want, problem string
	}{
		{"", defaultDirectoryRefresh, ""},
		{"off", "", ""},
		{"30 2 * * 1-5", "30 2 * * 1-5", ""},
		{"@daily", "@daily", ""},
		{"@every 24h", "", "SLACK_DIRECTORY_REFRESH \"@every 24h\": want a cron spec"},
		{"daily", "", "SLACK_DIRECTORY_REFRESH \"daily\""},
	} {
		vars := map[string]string{"SLACK_SIGNING_SECRET": "x", "SLACK_BOT_TOKEN": "xoxb-1", "SLACK_DIRECTORY_REFRESH": tc.value}
		c, _, err := loadSlackConfig(func(k string) string { return vars[k] })
		switch {
		case tc.problem != "" && (err == nil || !strings.Contains(err.Error(), tc.problem)):
			t.Errorf("%q: %v, want %q", tc.value, err, tc.problem)
		case tc.problem == "" && (err != nil || c.dirRefresh != tc.want):
			t.Errorf("%q: %q, %v; want %q", tc.value, c.dirRefresh, err, tc.want)
		}
	}
}
