package main

import (
	"context"
	"fmt"

	"github.com/usher-chat/usher/handlers/org"
	"github.com/usher-chat/usher/storage"
)

// reindex is `usher org reindex [ORG]`: the repair of the person index
// (storage/people.go) for what was written without it (before it existed,
// or by an older replica during a rolling deploy). A crash between an
// index write and its organization's commit needs no repair: the index is
// written first, and an entry too many is dropped by every reader.
func (o orgCmd) reindex(ctx context.Context, only []string) error {
	var ids []org.ID
	if len(only) == 1 {
		id, err := orgIDArg(only[0])
		if err != nil {
			return err
		}
		if _, found, err := o.dir.Get(ctx, id); err != nil {
			return err
		} else if !found {
			return org.Errorf(org.CodeNotFound, "There is no organization %s.", id).WithHint("`usher org list` lists them.")
		}
		ids = []org.ID{id}
	} else {
		all, err := o.dir.List(ctx)
		if err != nil {
			return err
		}
		for _, x := range all {
			ids = append(ids, x.ID)
		}
	}
	people := storage.NewPeople(o.rdb)
	for _, id := range ids {
		st, err := o.store(id)
		if err != nil {
			return err
		}
		n, err := people.Reindex(ctx, st)
		if err != nil {
			return fmt.Errorf("reindex %s: %w", id, err)
		}
		fmt.Fprintf(o.e.stdout, "%s: %d members and the open invitations noted in the person index\n", id, n)
		if _, err := st.ReindexWorkspaces(ctx); err != nil {
			return fmt.Errorf("reindex %s: %w", id, err)
		}
		fmt.Fprintf(o.e.stdout, "%s: the members of every workspace indexed\n", id)
		if r, err := st.ScheduleRequests(ctx); err != nil {
			return fmt.Errorf("reindex %s: %w", id, err)
		} else if r > 0 {
			fmt.Fprintf(o.e.stdout, "%s: %d invitation requests from before requests expired now due at their expiry\n", id, r)
		}
	}
	return nil
}
