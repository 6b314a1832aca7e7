package storage

import (
	"context"
	_ "embed"

	"github.com/redis/go-redis/v9"
)

//go:embed lua/reindex_workspaces.lua
var reindexWorkspacesSource string

var reindexWorkspacesScript = redis.NewScript(reindexWorkspacesSource)

// ReindexWorkspaces rebuilds the members set of every workspace from the
// users' grants and marks the index complete, after which a workspace's
// members are read from its set instead of from every user (SCIM groups).
// Every user write keeps the sets from this version on; what older versions
// wrote, or an older replica writes during a rolling deploy, is not in them,
// so `usher org reindex` runs it (again after such a deploy). It blocks
// Redis while it reads every user once (about a second at 100,000).
func (s *Store) ReindexWorkspaces(ctx context.Context) (int, error) {
	k := s.keys
	n, err := reindexWorkspacesScript.Run(ctx, s.rdb, []string{k.users(), k.workspaces(), k.wsIndexed()}, k.userPrefix(), k.wsMembersPrefix()).Int()
	return n, wrap("reindex workspaces of "+string(k.org), err)
}
