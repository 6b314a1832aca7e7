package org_test

import (
	"errors"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/usher-chat/usher/handlers/org"
)

// wantInvalid asserts that err is an *org.Error with CodeInvalid whose hint
// contains every one of hintHas.
func wantInvalid(t *testing.T, err error, hintHas ...string) {
	t.Helper()
	var e *org.Error
	if !errors.As(err, &e) {
		t.Fatalf("err = %v (%T), want *org.Error", err, err)
	}
	if e.Code != org.CodeInvalid {
		t.Fatalf("code = %q, want %q (err: %v)", e.Code, org.CodeInvalid, err)
	}
	for _, h := range hintHas {
		if !strings.Contains(e.Hint, h) {
			t.Errorf("hint %q does not mention %q", e.Hint, h)
		}
	}
}

func TestParseRole(t *testing.T) {
	tests := []struct {
		in   string
		want org.Role // "" means invalid
	}{
		{"admin", org.RoleAdmin},
		{"ADMIN", org.RoleAdmin},
		{" Member ", org.RoleMember},
		{"viewer", org.RoleViewer},
		{"ViEwEr", org.RoleViewer},
		{"", ""},
		{"owner", ""},
		{"admins", ""},
		{"manager", ""}, // a workspace role, not an organization role
		{"ad min", ""},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := org.ParseRole(tt.in)
			if tt.want == "" {
				if got != "" {
					t.Errorf("ParseRole(%q) = %q with an error", tt.in, got)
				}
				wantInvalid(t, err, "admin", "member", "viewer")
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseRole(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestParseWorkspaceRole(t *testing.T) {
	tests := []struct {
		in   string
		want org.WorkspaceRole
	}{
		{"manager", org.WorkspaceManager},
		{"Manager", org.WorkspaceManager},
		{"EDITOR", org.WorkspaceEditor},
		{" reader\t", org.WorkspaceReader},
		{"", ""},
		{"admin", ""}, // an organization role, not a workspace role
		{"writer", ""},
		{"read", ""},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := org.ParseWorkspaceRole(tt.in)
			if tt.want == "" {
				if got != "" {
					t.Errorf("ParseWorkspaceRole(%q) = %q with an error", tt.in, got)
				}
				wantInvalid(t, err, "manager", "editor", "reader")
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseWorkspaceRole(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestRoleRankAndAtMost(t *testing.T) {
	ranks := map[org.Role]int{org.RoleAdmin: 3, org.RoleMember: 2, org.RoleViewer: 1, "": 0, "owner": 0}
	for r, want := range ranks {
		if got := r.Rank(); got != want {
			t.Errorf("Role(%q).Rank() = %d, want %d", r, got, want)
		}
	}
	if !slices.IsSortedFunc(org.Roles, func(a, b org.Role) int { return b.Rank() - a.Rank() }) || len(org.Roles) != 3 {
		t.Errorf("Roles = %v, want admin, member, viewer from most to least powerful", org.Roles)
	}

	// AtMost over every pair: r grants no more than limit.
	all := []org.Role{org.RoleAdmin, org.RoleMember, org.RoleViewer}
	want := map[[2]org.Role]bool{
		{org.RoleAdmin, org.RoleAdmin}: true, {org.RoleAdmin, org.RoleMember}: false, {org.RoleAdmin, org.RoleViewer}: false,
		{org.RoleMember, org.RoleAdmin}: true, {org.RoleMember, org.RoleMember}: true, {org.RoleMember, org.RoleViewer}: false,
		{org.RoleViewer, org.RoleAdmin}: true, {org.RoleViewer, org.RoleMember}: true, {org.RoleViewer, org.RoleViewer}: true,
	}
	for _, r := range all {
		for _, limit := range all {
			if got := r.AtMost(limit); got != want[[2]org.Role{r, limit}] {
				t.Errorf("%s.AtMost(%s) = %v, want %v", r, limit, got, !got)
			}
		}
		// An unknown role never grants more than a real one.
		if !org.Role("bogus").AtMost(r) {
			t.Errorf("unknown role should be AtMost(%s)", r)
		}
	}

	wranks := map[org.WorkspaceRole]int{org.WorkspaceManager: 3, org.WorkspaceEditor: 2, org.WorkspaceReader: 1, "": 0, "owner": 0}
	for r, want := range wranks {
		if got := r.Rank(); got != want {
			t.Errorf("WorkspaceRole(%q).Rank() = %d, want %d", r, got, want)
		}
	}
}

func TestDefaultWorkspaceRole(t *testing.T) {
	for r, want := range map[org.Role]org.WorkspaceRole{
		org.RoleAdmin: org.WorkspaceEditor, org.RoleMember: org.WorkspaceEditor, org.RoleViewer: org.WorkspaceReader,
	} {
		if got := org.DefaultWorkspaceRole(r); got != want {
			t.Errorf("DefaultWorkspaceRole(%s) = %s, want %s", r, got, want)
		}
	}
}

func TestNormalizeWorkspaceName(t *testing.T) {
	tests := []struct {
		in, want string // want "" means invalid
	}{
		{"ml", "ml"},
		{"ML", "ml"},
		{"  Fraud-Models ", "fraud-models"},
		{"a", "a"},
		{"9lives", "9lives"},
		{"a.b_c-d", "a.b_c-d"},
		{strings.Repeat("x", 63), strings.Repeat("x", 63)},

		{"", ""},
		{"   ", ""},
		{strings.Repeat("x", 64), ""},
		{"-ml", ""},
		{"_ml", ""},
		{".ml", ""},
		{"m l", ""},
		{"ml:reader", ""},
		{"a,b", ""},
		{"café", ""},
		{"ml/x", ""},
		{"#ml", ""},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := org.NormalizeWorkspaceName(tt.in)
			if tt.want == "" {
				if got != "" {
					t.Errorf("NormalizeWorkspaceName(%q) = %q with an error", tt.in, got)
				}
				wantInvalid(t, err, "1-63", "fraud-models")
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("NormalizeWorkspaceName(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestParseGrant(t *testing.T) {
	tests := []struct {
		in      string
		want    org.Grant
		wantErr bool
	}{
		{in: "ml", want: org.Grant{Workspace: "ml"}},
		{in: "ml:reader", want: org.Grant{Workspace: "ml", Role: org.WorkspaceReader}},
		{in: "ML:Editor", want: org.Grant{Workspace: "ml", Role: org.WorkspaceEditor}},
		{in: "fraud-models:MANAGER", want: org.Grant{Workspace: "fraud-models", Role: org.WorkspaceManager}},
		{in: " ml : reader ", want: org.Grant{Workspace: "ml", Role: org.WorkspaceReader}},

		{in: "", wantErr: true},
		{in: ":reader", wantErr: true},
		{in: "ml:", wantErr: true},
		{in: "ml:admin", wantErr: true},
		{in: "ml:reader:x", wantErr: true},
		{in: "-ml", wantErr: true},
		{in: "m l:reader", wantErr: true},
		{in: "ml,ai", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := org.ParseGrant(tt.in)
			if tt.wantErr {
				if got != (org.Grant{}) {
					t.Errorf("ParseGrant(%q) = %+v with an error", tt.in, got)
				}
				wantInvalid(t, err)
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseGrant(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
			}
		})
	}
}

func g(ws string, r org.WorkspaceRole) org.Grant { return org.Grant{Workspace: ws, Role: r} }

func TestGrantsWith(t *testing.T) {
	base := org.Grants{g("ai", org.WorkspaceReader), g("ml", org.WorkspaceEditor)}
	tests := []struct {
		name string
		add  org.Grant
		want org.Grants
	}{
		{"adds and keeps sorted", g("data", org.WorkspaceManager),
			org.Grants{g("ai", org.WorkspaceReader), g("data", org.WorkspaceManager), g("ml", org.WorkspaceEditor)}},
		{"replaces the same workspace", g("ml", org.WorkspaceReader),
			org.Grants{g("ai", org.WorkspaceReader), g("ml", org.WorkspaceReader)}},
		{"adds last", g("zz", org.WorkspaceEditor),
			org.Grants{g("ai", org.WorkspaceReader), g("ml", org.WorkspaceEditor), g("zz", org.WorkspaceEditor)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := slices.Clone(base)
			got := base.With(tt.add)
			if !slices.Equal(got, tt.want) {
				t.Errorf("With(%v) = %v, want %v", tt.add, got, tt.want)
			}
			if !slices.Equal(base, before) {
				t.Errorf("With modified its receiver: %v", base)
			}
		})
	}
	if got := org.Grants(nil).With(g("ml", org.WorkspaceEditor)); !slices.Equal(got, org.Grants{g("ml", org.WorkspaceEditor)}) {
		t.Errorf("nil.With = %v", got)
	}
}

func TestGrantsGet(t *testing.T) {
	gs := org.Grants{g("ai", org.WorkspaceReader), g("ml", org.WorkspaceEditor)}
	if got, ok := gs.Get("ml"); !ok || got != g("ml", org.WorkspaceEditor) {
		t.Errorf("Get(ml) = %v, %v", got, ok)
	}
	if got, ok := gs.Get("zz"); ok || got != (org.Grant{}) {
		t.Errorf("Get(zz) = %v, %v; want nothing", got, ok)
	}
}

func TestGrantsForRole(t *testing.T) {
	in := org.Grants{g("ml", ""), g("ai", org.WorkspaceManager), g("data", org.WorkspaceReader), g("bi", org.WorkspaceEditor)}
	tests := []struct {
		role org.Role
		want org.Grants
	}{
		{org.RoleAdmin, org.Grants{g("ai", org.WorkspaceManager), g("bi", org.WorkspaceEditor), g("data", org.WorkspaceReader), g("ml", org.WorkspaceEditor)}},
		{org.RoleMember, org.Grants{g("ai", org.WorkspaceManager), g("bi", org.WorkspaceEditor), g("data", org.WorkspaceReader), g("ml", org.WorkspaceEditor)}},
		// Viewers only read, whatever was asked.
		{org.RoleViewer, org.Grants{g("ai", org.WorkspaceReader), g("bi", org.WorkspaceReader), g("data", org.WorkspaceReader), g("ml", org.WorkspaceReader)}},
	}
	for _, tt := range tests {
		t.Run(string(tt.role), func(t *testing.T) {
			before := slices.Clone(in)
			got := in.ForRole(tt.role)
			if !slices.Equal(got, tt.want) {
				t.Errorf("ForRole(%s) = %v, want %v", tt.role, got, tt.want)
			}
			if !slices.Equal(in, before) {
				t.Errorf("ForRole modified its receiver: %v", in)
			}
		})
	}
	if got := org.Grants(nil).ForRole(org.RoleViewer); len(got) != 0 {
		t.Errorf("nil.ForRole = %v", got)
	}
}

func TestGrantsEncodeDecode(t *testing.T) {
	tests := []struct {
		gs      org.Grants
		encoded string
		str     string
	}{
		{nil, "", "none"},
		{org.Grants{g("ml", org.WorkspaceEditor)}, "ml:editor", "ml:editor"},
		{org.Grants{g("ai", org.WorkspaceReader), g("ml", org.WorkspaceManager)}, "ai:reader,ml:manager", "ai:reader, ml:manager"},
	}
	for _, tt := range tests {
		if got := tt.gs.Encode(); got != tt.encoded {
			t.Errorf("%#v.Encode() = %q, want %q", tt.gs, got, tt.encoded)
		}
		if got := tt.gs.String(); got != tt.str {
			t.Errorf("%#v.String() = %q, want %q", tt.gs, got, tt.str)
		}
		back, err := org.DecodeGrants(tt.encoded)
		if err != nil || !slices.Equal(back, tt.gs) {
			t.Errorf("DecodeGrants(%q) = %v, %v; want %v", tt.encoded, back, err, tt.gs)
		}
	}

	// Decoding sorts.
	if got, err := org.DecodeGrants("ml:reader,ai:editor"); err != nil || !slices.Equal(got, org.Grants{g("ai", org.WorkspaceEditor), g("ml", org.WorkspaceReader)}) {
		t.Errorf("DecodeGrants(unsorted) = %v, %v", got, err)
	}

	for _, bad := range []string{"ml", "ml:", "ml:admin", "ml:Editor", "ml:editor,", ",ml:editor", "ml:editor,,ai:reader", "ml:editor;ai:reader"} {
		if got, err := org.DecodeGrants(bad); err == nil {
			t.Errorf("DecodeGrants(%q) = %v, want an error", bad, got)
		}
	}
}

// TestGrantsRoundTripProperty: DecodeGrants(Encode(g)) == g for every valid set
// of grants (valid names, a role each, one grant per workspace, as With builds them).
func TestGrantsRoundTripProperty(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const first = "abcdefghijklmnopqrstuvwxyz0123456789"
	const rest = first + "-_."
	roles := []org.WorkspaceRole{org.WorkspaceManager, org.WorkspaceEditor, org.WorkspaceReader}
	for i := 0; i < 2000; i++ {
		var gs org.Grants
		for n := rng.IntN(8); n > 0; n-- {
			name := []byte{first[rng.IntN(len(first))]}
			for l := rng.IntN(12); l > 0; l-- {
				name = append(name, rest[rng.IntN(len(rest))])
			}
			ws, err := org.NormalizeWorkspaceName(string(name))
			if err != nil {
				t.Fatalf("generated an invalid name %q: %v", name, err)
			}
			gs = gs.With(g(ws, roles[rng.IntN(len(roles))]))
		}
		back, err := org.DecodeGrants(gs.Encode())
		if err != nil {
			t.Fatalf("DecodeGrants(%q): %v", gs.Encode(), err)
		}
		if !slices.Equal(back, gs) {
			t.Fatalf("round trip of %v gave %v", gs, back)
		}
	}
}

func FuzzDecodeGrants(f *testing.F) {
	for _, s := range []string{"", "ml:editor", "ai:reader,ml:manager", "ml:reader,ai:editor", "ml", "a:editor,a:reader", ":editor", ",", "ml:editor:x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		gs, err := org.DecodeGrants(s)
		if err != nil {
			return
		}
		enc := gs.Encode()
		back, err := org.DecodeGrants(enc)
		if err != nil {
			t.Fatalf("DecodeGrants(%q) = %v, but DecodeGrants(%q) fails: %v", s, gs, enc, err)
		}
		if !slices.Equal(back, gs) {
			t.Fatalf("DecodeGrants(%q) = %v, but DecodeGrants(%q) = %v", s, gs, enc, back)
		}
	})
}

func TestLastActiveAdmin(t *testing.T) {
	admin := &org.User{Email: "a@x.com", Role: org.RoleAdmin, Status: org.StatusActive}
	member := &org.User{Email: "m@x.com", Role: org.RoleMember, Status: org.StatusActive}
	for _, tc := range []struct {
		u      *org.User
		admins []string
		want   bool
	}{
		{admin, []string{"a@x.com"}, true},
		{admin, []string{"a@x.com", "b@x.com"}, false},
		{admin, nil, true}, // the index is behind: still never the last one
		{member, []string{"a@x.com"}, false},
	} {
		if got := org.LastActiveAdmin(tc.u, tc.admins); got != tc.want {
			t.Errorf("LastActiveAdmin(%s, %v) = %v, want %v", tc.u.Email, tc.admins, got, tc.want)
		}
	}
}
