package storage_test

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/usher-chat/usher/handlers/org"
	"github.com/usher-chat/usher/storage"
	"github.com/usher-chat/usher/storage/redistest"
)

// seedLegacy writes what a version before the identity rule stored for an
// admin who joined as Bob@example.com (web session, chat link, an invitation
// sent to Carol@example.com, today's quota), next to boss@example.com and
// an accepted invitation for Dan@example.com (history, left alone).
func seedLegacy(t *testing.T, rdb redis.UniversalClient, orgID string) {
	t.Helper()
	ctx := context.Background()
	p := "usher:{" + orgID + "}:"
	user := func(email, role string) {
		rdb.HSet(ctx, p+"user:"+email, "email", email, "name", "", "role", role, "status", "active", "ws", "",
			"pw", "", "mcp", "0", "pwexp", "0", "created", "1", "updated", "1", "ver", "3")
		rdb.ZAdd(ctx, p+"users", redis.Z{Member: email})
		if role == "admin" {
			rdb.SAdd(ctx, p+"admins", email)
		}
	}
	user("boss@example.com", "admin")
	user("Bob@example.com", "admin")
	rdb.HSet(ctx, p+"chat", "slack:T1:U1", "Bob@example.com", "slack:T1:U0", "boss@example.com")
	rdb.SAdd(ctx, p+"sessions:Bob@example.com", "s1")
	rdb.PExpire(ctx, p+"sessions:Bob@example.com", time.Hour)
	rdb.HSet(ctx, p+"session:s1", "email", "Bob@example.com", "stamp", "x", "created", "1", "ver", "3")
	rdb.HSet(ctx, p+"inv:inv1", "id", "inv1", "email", "Carol@example.com", "role", "member", "ws", "", "note", "",
		"by", "Bob@example.com", "created", "100", "expires", "0", "status", "pending", "th", "", "dlv", "",
		"rem", "0", "next", "0", "updated", "100", "ver", "1")
	rdb.HSet(ctx, p+"open", "Carol@example.com", "inv1")
	rdb.ZAdd(ctx, p+"pending", redis.Z{Score: 100, Member: "inv1"})
	rdb.ZAdd(ctx, p+"by:Bob@example.com", redis.Z{Score: 100, Member: "inv1"})
	rdb.Set(ctx, p+"quota:Bob@example.com:"+now.Format("20060102"), 3, 48*time.Hour)
	rdb.Set(ctx, p+"quota:bob@example.com:"+now.Format("20060102"), 1, time.Hour)
	rdb.HSet(ctx, p+"inv:inv0", "id", "inv0", "email", "Dan@example.com", "by", "boss@example.com", "status", "accepted")
}

// dump is every key of the organization with its serialized value.
func dump(t *testing.T, rdb redis.UniversalClient, orgID string) map[string]string {
	t.Helper()
	ctx := context.Background()
	out := map[string]string{}
	scan := func(ctx context.Context, c *redis.Client) error {
		it := c.Scan(ctx, 0, "usher:{"+orgID+"}:*", 1000).Iterator()
		for it.Next(ctx) {
			v, err := c.Dump(ctx, it.Val()).Result()
			if err != nil {
				return err
			}
			out[it.Val()] = v
		}
		return it.Err()
	}
	var err error
	switch c := rdb.(type) {
	case *redis.ClusterClient:
		var mu sync.Mutex // masters are scanned concurrently
		err = c.ForEachMaster(ctx, func(ctx context.Context, n *redis.Client) error {
			mu.Lock()
			defer mu.Unlock()
			return scan(ctx, n)
		})
	case *redis.Client:
		err = scan(ctx, c)
	}
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func keyNames(m map[string]string) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

func checkMigrated(t *testing.T, rdb redis.UniversalClient, orgID string) {
	t.Helper()
	ctx := context.Background()
	p := "usher:{" + orgID + "}:"
	st := newStore(t, rdb, orgID)
	snap, err := st.Load(ctx, org.Query{Users: []string{"BOB@example.com"}, AllUsers: true, Admins: true,
		OpenFor: []string{"carol@example.com"}, Identity: "slack:T1:U1", PendingBy: "bob@example.com",
		QuotaOf: "bob@example.com", QuotaDay: now.Format("20060102")})
	if err != nil {
		t.Fatal(err)
	}
	if u := snap.Users["BOB@example.com"]; u == nil || u.Email != "bob@example.com" || u.Version != 3 || u.Role != org.RoleAdmin {
		t.Errorf("bob by any spelling after the migration: %+v", u)
	}
	// Upgrading keeps what people see: the old spelling is the display one.
	if u := snap.Users["BOB@example.com"]; u == nil || u.Spelling != "Bob@example.com" || u.Display() != "Bob@example.com" {
		t.Errorf("bob's display spelling after the migration: %+v", u)
	}
	if len(snap.AllUsers) != 2 {
		t.Errorf("%d users, want 2", len(snap.AllUsers))
	}
	for _, u := range snap.AllUsers {
		if want := map[string]string{"bob@example.com": "Bob@example.com", "boss@example.com": "boss@example.com"}[u.Email]; u.Display() != want {
			t.Errorf("listed user %s shows as %q, want %q", u.Email, u.Display(), want)
		}
	}
	if got := slices.Sorted(slices.Values(snap.Admins)); !slices.Equal(got, []string{"bob@example.com", "boss@example.com"}) {
		t.Errorf("admins %v", got)
	}
	if inv := snap.Open["carol@example.com"]; inv == nil || inv.ID != "inv1" || inv.Email != "carol@example.com" || inv.Inviter != "bob@example.com" {
		t.Errorf("carol's open invitation: %+v", inv)
	} else if inv.Display() != "Carol@example.com" || inv.InviterDisplay() != "Bob@example.com" {
		t.Errorf("carol's open invitation shows %q sent by %q, want the spellings stored before: Carol@example.com, Bob@example.com",
			inv.Display(), inv.InviterDisplay())
	}
	if snap.IdentityUser != "bob@example.com" {
		t.Errorf("slack:T1:U1 -> %q", snap.IdentityUser)
	}
	if len(snap.Pending) != 1 || snap.Quota != 4 {
		t.Errorf("sent by bob: %d pending, quota %d (want 1, 3+1)", len(snap.Pending), snap.Quota)
	}
	if m, _ := rdb.SMembers(ctx, p+"sessions:bob@example.com").Result(); !slices.Equal(m, []string{"s1"}) {
		t.Errorf("bob's sessions %v", m)
	}
	if ttl, _ := rdb.PTTL(ctx, p+"quota:bob@example.com:"+now.Format("20060102")).Result(); ttl < 47*time.Hour {
		t.Errorf("merged quota expires in %v, want the later of the two (48h)", ttl)
	}
	if e, _ := rdb.HGet(ctx, p+"session:s1", "email").Result(); e != "bob@example.com" {
		t.Errorf("session s1 is %q's", e)
	}
	if e, _ := rdb.HGet(ctx, p+"inv:inv0", "email").Result(); e != "Dan@example.com" {
		t.Errorf("history rewritten: inv0 is for %q", e)
	}
	for _, k := range keyNames(dump(t, rdb, orgID)) {
		if strings.Contains(k, "Bob@") {
			t.Errorf("key %s is left under the old spelling", k)
		}
	}
	// The migrated admin works with the guards: a commit at the version read.
	u := snap.Users["BOB@example.com"].Clone()
	u.Role = org.RoleMember
	if err := st.Commit(ctx, org.Change{Now: now, Users: []org.UserWrite{{User: u, Version: 3}}}); err != nil {
		t.Errorf("commit on the migrated bob: %v", err)
	}
}

func TestMigrateEmailCaseRenames(t *testing.T) {
	rdb := redistest.Shared(t).Client(t)
	ctx := context.Background()
	seedLegacy(t, rdb, "mig-rename")
	st := newStore(t, rdb, "mig-rename")
	rep, err := st.MigrateEmailCase(ctx, now)
	if err != nil {
		t.Fatal(err)
	}
	if rep != (storage.EmailCaseReport{Users: 1, Invitations: 1, ChatLinks: 1}) {
		t.Errorf("report %+v", rep)
	}
	before := dump(t, rdb, "mig-rename")
	// A second run is a no-op.
	rep, err = st.MigrateEmailCase(ctx, now)
	if err != nil || rep != (storage.EmailCaseReport{}) {
		t.Fatalf("second run: %+v %v", rep, err)
	}
	if after := dump(t, rdb, "mig-rename"); !mapsEqual(before, after) {
		t.Fatalf("second run changed keys:\n%v\n%v", keyNames(before), keyNames(after))
	}
	checkMigrated(t, rdb, "mig-rename")
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func TestMigrateEmailCaseRefusesTwins(t *testing.T) {
	rdb := redistest.Shared(t).Client(t)
	ctx := context.Background()
	const o = "mig-twins"
	p := "usher:{" + o + "}:"
	seedLegacy(t, rdb, o)
	// bob twice, and two open invitations for erin.
	rdb.HSet(ctx, p+"user:bob@example.com", "email", "bob@example.com", "role", "member", "status", "active", "ver", "1")
	rdb.ZAdd(ctx, p+"users", redis.Z{Member: "bob@example.com"})
	rdb.HSet(ctx, p+"inv:inv2", "id", "inv2", "email", "Erin@example.com", "by", "boss@example.com", "status", "pending")
	rdb.HSet(ctx, p+"inv:inv3", "id", "inv3", "email", "erin@example.com", "by", "boss@example.com", "status", "pending")
	rdb.HSet(ctx, p+"open", "Erin@example.com", "inv2", "erin@example.com", "inv3")
	before := dump(t, rdb, o)

	st := newStore(t, rdb, o)
	_, err := st.MigrateEmailCase(ctx, now)
	var ce *storage.EmailCaseConflictError
	if !errors.As(err, &ce) {
		t.Fatalf("err = %v, want *EmailCaseConflictError", err)
	}
	t.Logf("the refusal:\n%v", err)
	if len(ce.Conflicts) != 2 {
		t.Fatalf("%d conflicts, want 2: %+v", len(ce.Conflicts), ce.Conflicts)
	}
	msg := err.Error()
	for _, want := range []string{"organization " + o, p + "user:Bob@example.com", p + "user:bob@example.com",
		"invitation inv2 (for Erin@example.com)", "invitation inv3 (for erin@example.com)", "redis-cli DEL", "revoke"} {
		if !strings.Contains(msg, want) {
			t.Errorf("the refusal does not name %q:\n%s", want, msg)
		}
	}
	if after := dump(t, rdb, o); !mapsEqual(before, after) {
		t.Fatal("a refused migration wrote something")
	}

	// Resolved as the message says, the next start migrates.
	rdb.Del(ctx, p+"user:bob@example.com")
	rdb.ZRem(ctx, p+"users", "bob@example.com")
	rdb.HDel(ctx, p+"open", "Erin@example.com")
	if _, err := st.MigrateEmailCase(ctx, now); err != nil {
		t.Fatalf("after resolving: %v", err)
	}
	checkMigrated(t, rdb, o)
}

// TestMigrateEmailCaseOnCluster: the scripts touch only keys of the
// organization's slot, so they run on Redis Cluster.
func TestMigrateEmailCaseOnCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 3-node cluster")
	}
	rdb := redistest.StartCluster(t, 3).Client(t)
	ctx := context.Background()
	seedLegacy(t, rdb, "mig-cluster")
	st := newStore(t, rdb, "mig-cluster")
	if _, err := st.MigrateEmailCase(ctx, now); err != nil {
		t.Fatal(err)
	}
	if rep, err := st.MigrateEmailCase(ctx, now); err != nil || rep != (storage.EmailCaseReport{}) {
		t.Fatalf("second run: %+v %v", rep, err)
	}
	checkMigrated(t, rdb, "mig-cluster")
}

// TestKeysAreIdentities: whatever spelling reaches storage, one person has
// one key, one users member, one admins member and one open pointer.
// TestSpellingRoundTrip: a display spelling is stored next to its identity
// and read back; a record without one (written before spellings were kept)
// reads as its identity.
func TestSpellingRoundTrip(t *testing.T) {
	rdb := redistest.Shared(t).Client(t)
	ctx := context.Background()
	st := newStore(t, rdb, "spelling")
	u := admin("ann@example.com")
	u.Spelling = "Ann.Lee@example.com" // not a spelling of ann@: must never show
	amy := admin("amy@example.com")
	amy.Spelling = "Amy@example.com"
	inv := &org.Invitation{ID: "inv7", Email: "zoe@example.com", Spelling: "Zoe@example.com", Role: org.RoleMember,
		Inviter: "amy@example.com", InviterSpelling: "Amy@example.com",
		Created: now, Expires: now.Add(time.Hour), Status: org.InvitationPending, Updated: now}
	if err := st.Commit(ctx, org.Change{Now: now, Users: []org.UserWrite{{User: u}, {User: amy}},
		Invitations: []org.InvitationWrite{{Invitation: inv}}}); err != nil {
		t.Fatal(err)
	}
	p := "usher:{spelling}:"
	if n, _ := rdb.HExists(ctx, p+"user:ann@example.com", "sp").Result(); n {
		t.Errorf("a spelling that is not ann's was stored")
	}
	rdb.HSet(ctx, p+"user:old@example.com", "email", "old@example.com", "role", "member", "status", "active", "ver", "1")
	rdb.ZAdd(ctx, p+"users", redis.Z{Member: "old@example.com"})
	snap, err := st.Load(ctx, org.Query{Users: []string{"AMY@example.com", "old@example.com"}, AllUsers: true, OpenFor: []string{"ZOE@example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := snap.Users["AMY@example.com"]; got == nil || got.Email != "amy@example.com" || got.Display() != "Amy@example.com" {
		t.Errorf("amy read back as %+v", got)
	}
	if got := snap.Users["old@example.com"]; got == nil || got.Spelling != "" || got.Display() != "old@example.com" {
		t.Errorf("a record without a spelling read back as %+v", got)
	}
	shown := map[string]string{}
	for _, u := range snap.AllUsers {
		shown[u.Email] = u.Display()
	}
	if want := map[string]string{"amy@example.com": "Amy@example.com", "ann@example.com": "ann@example.com", "old@example.com": "old@example.com"}; !maps.Equal(shown, want) {
		t.Errorf("the member list shows %v, want %v", shown, want)
	}
	if got := snap.Open["ZOE@example.com"]; got == nil || got.Display() != "Zoe@example.com" || got.InviterDisplay() != "Amy@example.com" || got.Inviter != "amy@example.com" {
		t.Errorf("zoe's invitation read back as %+v", got)
	}
}

func TestKeysAreIdentities(t *testing.T) {
	rdb := redistest.Shared(t).Client(t)
	ctx := context.Background()
	st := newStore(t, rdb, "identity-keys")
	inv := &org.Invitation{ID: "inv9", Email: "Zoe@example.com", Role: org.RoleMember, Inviter: "Zed@example.com",
		Created: now, Expires: now.Add(time.Hour), Status: org.InvitationPending, Updated: now}
	if err := st.Commit(ctx, org.Change{Now: now, Users: []org.UserWrite{{User: admin("Zed@Example.com")}},
		Invitations: []org.InvitationWrite{{Invitation: inv}}, Links: []org.IdentityLink{{Identity: "slack:T:U", Email: "Zed@example.com"}},
		Quota: &org.QuotaUse{Email: "ZED@example.com", Day: "20260105", N: 1, Limit: 50}}); err != nil {
		t.Fatal(err)
	}
	snap, err := st.Load(ctx, org.Query{Users: []string{"zed@example.com"}, OpenFor: []string{"zoe@example.com"}, Admins: true,
		Identity: "slack:T:U", PendingBy: "zed@EXAMPLE.com", QuotaOf: "zed@example.com", QuotaDay: "20260105"})
	if err != nil {
		t.Fatal(err)
	}
	if z := snap.Users["zed@example.com"]; z == nil || z.Email != "zed@example.com" || z.Display() != "Zed@Example.com" {
		t.Errorf("a capitalized Email is stored as its identity, the capitals kept for display: %+v", z)
	}
	if snap.Users["zed@example.com"] == nil || snap.Open["zoe@example.com"] == nil || !slices.Equal(snap.Admins, []string{"zed@example.com"}) ||
		snap.IdentityUser != "zed@example.com" || len(snap.Pending) != 1 || snap.Quota != 1 {
		t.Fatalf("by identity: users %v open %v admins %v chat %q pending %d quota %d",
			snap.Users, snap.Open, snap.Admins, snap.IdentityUser, len(snap.Pending), snap.Quota)
	}
	// A second record under another spelling is refused by the same guard.
	err = st.Commit(ctx, org.Change{Now: now, Users: []org.UserWrite{{User: admin("zed@example.com")}}})
	var pe *org.PreconditionError
	if !errors.As(err, &pe) {
		t.Fatalf("a second user zed@example.com next to Zed@Example.com: %v, want a precondition failure", err)
	}
}
