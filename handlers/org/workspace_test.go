package org

import (
	"strings"
	"testing"
)

func TestWorkspaceNameFor(t *testing.T) {
	for in, want := range map[string]string{
		"Fraud Models":            "fraud-models",
		"  Sales (EMEA) & Ops":    "sales-emea-ops",
		"R&D":                     "r-d",
		"team_a.v2":               "team_a.v2",
		"--Platform--":            "platform",
		"Équipe Données":          "quipe-donn-es",
		strings.Repeat("ab ", 40): strings.TrimRight(strings.Repeat("ab-", 21), "-"),
	} {
		got, err := WorkspaceNameFor(in)
		if err != nil || got != want {
			t.Errorf("WorkspaceNameFor(%q) = %q, %v; want %q", in, got, err, want)
		}
		if err == nil {
			if _, err := NormalizeWorkspaceName(got); err != nil {
				t.Errorf("%q: %q is not a workspace name: %v", in, got, err)
			}
		}
	}
	for _, bad := range []string{"", "   ", "!!!", "All", "ALL!"} {
		if got, err := WorkspaceNameFor(bad); err == nil {
			t.Errorf("WorkspaceNameFor(%q) = %q, want an error", bad, got)
		} else if ErrorCode(err) != CodeInvalid {
			t.Errorf("WorkspaceNameFor(%q): code %s", bad, ErrorCode(err))
		}
	}
}

func FuzzWorkspaceNameFor(f *testing.F) {
	for _, s := range []string{"Fraud Models", "R&D", "", "all", "a\x00b", strings.Repeat("x", 100)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		name, err := WorkspaceNameFor(s)
		if err != nil {
			return
		}
		if n, err := NewWorkspaceName(name); err != nil || n != name {
			t.Fatalf("%q became %q, which is not a workspace name: %v", s, name, err)
		}
	})
}
