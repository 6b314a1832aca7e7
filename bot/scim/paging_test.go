package scim_test

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/usher-chat/usher/handlers/handlerstest"
	"github.com/usher-chat/usher/handlers/org"
)

// seed stores n members straight through the store's commit (the same
// script and indexes a provisioning commit uses), 500 to a commit.
func seed(tb testing.TB, e *env, n int) {
	tb.Helper()
	ctx := context.Background()
	for from := 0; from < n; from += 500 {
		var ch org.Change
		for i := from; i < min(from+500, n); i++ {
			ch.Users = append(ch.Users, org.UserWrite{User: &org.User{
				Email: fmt.Sprintf("user%06d@example.com", i), Name: fmt.Sprintf("User %d", i), ExternalID: fmt.Sprintf("ext-%d", i),
				Role: org.RoleMember, Status: org.StatusActive, Created: handlerstest.Start, Updated: handlerstest.Start,
			}})
		}
		ch.Now = handlerstest.Start
		if err := e.org.Store.Commit(ctx, ch); err != nil {
			tb.Fatal(err)
		}
	}
}

// Paging over 10,000 users: every page in email order, the pages together
// every user exactly once, totalResults the same on each, and a second
// walk (after changes that do not add or remove anyone) the same.
func TestPaging10000(t *testing.T) {
	if testing.Short() {
		t.Skip("seeds 10,000 users")
	}
	e := newEnv(t)
	seed(t, e, 10000)
	walk := func() []string {
		var ids []string
		for start := 1; ; start += 100 {
			r := e.do("GET", fmt.Sprintf("/scim/v2/Users?startIndex=%d&count=100", start), nil).want(t, 200)
			if r.total() != 10001 {
				t.Fatalf("totalResults %d at %d", r.total(), start)
			}
			res := r.resources()
			if len(res) == 0 {
				break
			}
			if len(res) > 100 {
				t.Fatalf("page of %d", len(res))
			}
			for _, x := range res {
				ids = append(ids, x["userName"].(string))
			}
		}
		return ids
	}
	first := walk()
	if len(first) != 10001 {
		t.Fatalf("%d users listed, want 10001", len(first))
	}
	if !slices.IsSorted(first) {
		t.Fatal("not in email order")
	}
	if len(slices.Compact(slices.Clone(first))) != len(first) {
		t.Fatal("duplicates across pages")
	}
	// Changes that add or remove nobody move nobody.
	id := scimID(t, e, "user005000@example.com")
	e.do("PATCH", "/scim/v2/Users/"+id, oktaActive(false)).want(t, 200)
	e.do("PATCH", "/scim/v2/Users/"+scimID(t, e, "user000001@example.com"), entraRename("Renamed")).want(t, 200)
	if second := walk(); !slices.Equal(first, second) {
		t.Fatal("the order moved between walks")
	}
	// Past the end: the total, no resources.
	r := e.do("GET", "/scim/v2/Users?startIndex=20000&count=100", nil).want(t, 200)
	if r.total() != 10001 || len(r.resources()) != 0 {
		t.Fatalf("past the end: %s", r.raw)
	}
	// count=0: only the total.
	if r := e.do("GET", "/scim/v2/Users?count=0", nil).want(t, 200); r.total() != 10001 || len(r.resources()) != 0 {
		t.Fatalf("count=0: %s", r.raw)
	}
	// count above the maximum is capped (ServiceProviderConfig says 200).
	if r := e.do("GET", "/scim/v2/Users?count=5000", nil).want(t, 200); len(r.resources()) != 200 {
		t.Fatalf("count=5000 gave %d", len(r.resources()))
	}
	e.do("GET", "/scim/v2/Users?count=x", nil).scimError(t, 400, "")
}
