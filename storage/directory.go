package storage

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/usher-chat/usher/handlers/org"
)

// The directory is deployment-wide: which organizations exist, their display
// names and platforms, and which chat tenant belongs to which. Its keys share
// one hash tag of their own, {_directory}, so that under Redis Cluster its
// scripts touch one slot (never an organization's), and that tag can never be
// an organization's: '_' is not in an org.ID. An organization id never
// appears inside the braces of a directory key, so an organization's SCAN
// pattern (usher:{ID}:*) cannot reach the directory.
//
//	usher:{_directory}:orgs        hash org id -> JSON {"name", "platforms", "created"}
//	usher:{_directory}:slack       hash "ENTERPRISE|TEAM" -> org id: "|T" a workspace (whatever
//	                                    its Enterprise Grid: team ids are unique across Slack),
//	                                    "E|" every workspace of enterprise E (an org-wide install)
//	usher:{_directory}:teams       hash Teams tenant id (lower-case) -> org id
//	usher:{_directory}:links:ID    set  the entries organization ID owns ("slack|E|T", "teams|X"),
//	                                    so that deleting it drops exactly those
//	usher:{_directory}:teams:...   Teams installations (directory_teams.go)
const (
	directoryPrefix = "usher:{_directory}:"
	directoryOrgs   = directoryPrefix + "orgs"
	directorySlack  = directoryPrefix + "slack"
	directoryTeams  = directoryPrefix + "teams"
)

func directoryLinks(id org.ID) string { return directoryPrefix + "links:" + string(id) }

var (
	//go:embed lua/directory_link.lua
	directoryLinkSource string
	//go:embed lua/directory_remove.lua
	directoryRemoveSource string

	directoryLink   = redis.NewScript(directoryLinkSource)
	directoryRemove = redis.NewScript(directoryRemoveSource)
)

// Directory is the deployment's list of organizations and the map from chat
// tenants to them. Item 3 of issue 13 routes each request through Resolve
// and org.Route; until then `usher serve` serves USHER_ORG only.
type Directory struct{ rdb redis.UniversalClient }

// NewDirectory returns the directory on rdb.
func NewDirectory(rdb redis.UniversalClient) *Directory { return &Directory{rdb: rdb} }

// Directory is the directory of the deployment s is in (the same Redis).
func (s *Store) Directory() *Directory { return NewDirectory(s.rdb) }

// Organization is one directory entry.
type Organization struct {
	ID        org.ID    `json:"-"`
	Name      string    `json:"name"`
	Platforms []string  `json:"platforms"` // "slack", "teams": those of its linked tenants
	Created   time.Time `json:"created"`
	// Tenants are the chat tenants linked to it (Get and List fill them in).
	Tenants []org.Tenant `json:"-"`
}

// TenantTakenError refuses linking a tenant that another organization has.
// It unwraps to a CodeConflict *org.Error, so it is safe to show.
type TenantTakenError struct {
	Tenant org.Tenant
	Owner  org.ID
}

func (e *TenantTakenError) Error() string { return e.Unwrap().Error() }

func (e *TenantTakenError) Unwrap() error {
	return org.Errorf(org.CodeConflict, "The %s is already linked to organization %s.", e.Tenant, e.Owner).
		WithHint("A tenant belongs to one organization: delete that one first, or leave this tenant out.")
}

// errOrgExists and errOrgMissing are the directory's refusals; callers name
// the id.
func errOrgExists(id org.ID) error {
	return org.Errorf(org.CodeConflict, "Organization %s already exists.", id).WithHint("See it with `usher org show %s`, or choose another id with --id.", id)
}

func errOrgMissing(id org.ID) error {
	return org.Errorf(org.CodeNotFound, "There is no organization %s.", id).WithHint("`usher org list` lists them.")
}

// slackField is a Slack tenant's field in the slack hash: "|T" for a
// workspace, "E|" for a whole enterprise (see the key list above).
func slackField(t org.Tenant) string {
	if t.Team != "" {
		return "|" + t.Team
	}
	return t.Enterprise + "|"
}

// tenantArgs flattens tenants into the link script's (platform, field) pairs.
func tenantArgs(tenants []org.Tenant) ([]any, error) {
	var args []any
	for _, t := range tenants {
		if err := t.Validate(); err != nil {
			return nil, err
		}
		switch t.Platform {
		case org.PlatformSlack:
			args = append(args, org.PlatformSlack, slackField(t))
		case org.PlatformTeams:
			args = append(args, org.PlatformTeams, t.TenantID)
		}
	}
	return args, nil
}

// tenantOf reads a link member ("slack|E|T", "teams|X") back.
func tenantOf(member string) (org.Tenant, bool) {
	platform, field, ok := strings.Cut(member, "|")
	if !ok {
		return org.Tenant{}, false
	}
	switch platform {
	case org.PlatformSlack:
		e, t, ok := strings.Cut(field, "|")
		return org.SlackTenant(e, t), ok
	case org.PlatformTeams:
		return org.TeamsTenant(field), true
	}
	return org.Tenant{}, false
}

func (d *Directory) link(ctx context.Context, mode string, o Organization, tenants []org.Tenant) (created bool, err error) {
	if err := o.ID.Validate(); err != nil {
		return false, err
	}
	targs, err := tenantArgs(tenants)
	if err != nil {
		return false, err
	}
	if o.Platforms == nil {
		o.Platforms = []string{} // "[]", not "null": the script appends to it
	}
	rec, err := json.Marshal(o)
	if err != nil {
		return false, err
	}
	args := append([]any{mode, string(o.ID), string(rec)}, targs...)
	res, err := directoryLink.Run(ctx, d.rdb, []string{directoryOrgs, directorySlack, directoryTeams, directoryLinks(o.ID)}, args...).StringSlice()
	if err != nil {
		return false, wrap("directory", err)
	}
	switch {
	case len(res) == 2 && res[0] == "ok":
		return res[1] == "1", nil
	case len(res) >= 1 && res[0] == "exists":
		return false, errOrgExists(o.ID)
	case len(res) == 1 && res[0] == "missing":
		return false, errOrgMissing(o.ID)
	case len(res) == 4 && res[0] == "taken":
		t, _ := tenantOf(res[1] + "|" + res[2])
		return false, &TenantTakenError{Tenant: t, Owner: org.ID(res[3])}
	}
	return false, fmt.Errorf("directory: unexpected reply %q", res)
}

// Create registers a new organization with its tenants, all or nothing: it
// refuses an id that exists (CodeConflict) and a tenant another organization
// has (*TenantTakenError). Created defaults to now.
func (d *Directory) Create(ctx context.Context, o Organization, tenants ...org.Tenant) error {
	if o.Created.IsZero() {
		o.Created = time.Now().UTC().Truncate(time.Second)
	}
	_, err := d.link(ctx, "create", o, tenants)
	return err
}

// Ensure registers o when its id is not registered yet and leaves an
// existing entry as it is (USHER_ORG at every start: idempotent).
func (d *Directory) Ensure(ctx context.Context, o Organization) (created bool, err error) {
	if o.Created.IsZero() {
		o.Created = time.Now().UTC().Truncate(time.Second)
	}
	return d.link(ctx, "ensure", o, nil)
}

// Link links tenants to the existing organization id; linking one it already
// has is a no-op, one another organization has refuses the whole call.
func (d *Directory) Link(ctx context.Context, id org.ID, tenants ...org.Tenant) error {
	if len(tenants) == 0 {
		return org.Errorf(org.CodeInvalid, "Nothing to link.").WithHint("Give --slack-team, --slack-enterprise or --teams-tenant.")
	}
	_, err := d.link(ctx, "link", Organization{ID: id}, tenants)
	return err
}

// Get reads one organization with its tenants; found is false when there is none.
func (d *Directory) Get(ctx context.Context, id org.ID) (Organization, bool, error) {
	if err := id.Validate(); err != nil {
		return Organization{}, false, err
	}
	var rec *redis.StringCmd
	var links *redis.StringSliceCmd
	_, err := d.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		rec = p.HGet(ctx, directoryOrgs, string(id))
		links = p.SMembers(ctx, directoryLinks(id))
		return nil
	})
	if errors.Is(rec.Err(), redis.Nil) {
		return Organization{}, false, nil
	}
	if err != nil {
		return Organization{}, false, wrap("directory get "+string(id), err)
	}
	o, err := decodeOrganization(id, rec.Val())
	if err != nil {
		return Organization{}, false, err
	}
	o.Tenants = decodeTenants(links.Val())
	return o, true, nil
}

func decodeOrganization(id org.ID, rec string) (Organization, error) {
	var o Organization
	if err := json.Unmarshal([]byte(rec), &o); err != nil {
		return Organization{}, fmt.Errorf("directory entry %s: %w", id, err)
	}
	o.ID = id
	return o, nil
}

func decodeTenants(members []string) []org.Tenant {
	slices.Sort(members)
	var ts []org.Tenant
	for _, m := range members {
		if t, ok := tenantOf(m); ok {
			ts = append(ts, t)
		}
	}
	return ts
}

// List returns every organization, by id, with its tenants. It reads the
// whole directory (HSCAN, then one pipeline for the tenant sets): an
// operator's command, not a request's.
func (d *Directory) List(ctx context.Context) ([]Organization, error) {
	var orgs []Organization
	iter := d.rdb.HScan(ctx, directoryOrgs, 0, "", 1000).Iterator()
	for iter.Next(ctx) {
		id := iter.Val()
		if !iter.Next(ctx) {
			break
		}
		o, err := decodeOrganization(org.ID(id), iter.Val())
		if err != nil {
			return nil, err
		}
		orgs = append(orgs, o)
	}
	if err := iter.Err(); err != nil {
		return nil, wrap("directory list", err)
	}
	slices.SortFunc(orgs, func(a, b Organization) int { return strings.Compare(string(a.ID), string(b.ID)) })
	if len(orgs) == 0 {
		return nil, nil
	}
	cmds, err := d.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, o := range orgs {
			p.SMembers(ctx, directoryLinks(o.ID))
		}
		return nil
	})
	if err != nil {
		return nil, wrap("directory list", err)
	}
	for i, c := range cmds {
		orgs[i].Tenants = decodeTenants(c.(*redis.StringSliceCmd).Val())
	}
	return orgs, nil
}

// Resolve finds the organization a chat tenant belongs to, in one round
// trip; found is false when it maps to nothing (org.Route then decides).
// A Slack request carries its workspace and, in Enterprise Grid, its
// enterprise: the workspace's own entry wins over its enterprise's, the
// order of bot/slack/guard.go's Tenants.Serves, today's single-workspace pin,
// which routing by tenant (issue 13, item 3) replaces with Resolve followed
// by org.Route (and bot/teams' AllowedTenants likewise).
func (d *Directory) Resolve(ctx context.Context, t org.Tenant) (id org.ID, found bool, err error) {
	var vals []any
	switch t.Platform {
	case org.PlatformSlack:
		var fields []string
		if t.Team != "" {
			fields = append(fields, "|"+t.Team)
		}
		if t.Enterprise != "" {
			fields = append(fields, t.Enterprise+"|")
		}
		if len(fields) == 0 {
			return "", false, nil
		}
		vals, err = d.rdb.HMGet(ctx, directorySlack, fields...).Result()
	case org.PlatformTeams:
		if t.TenantID == "" {
			return "", false, nil
		}
		vals, err = d.rdb.HMGet(ctx, directoryTeams, t.TenantID).Result()
	default:
		return "", false, nil
	}
	if err != nil {
		return "", false, wrap("directory resolve", err)
	}
	for _, v := range vals {
		if s, ok := v.(string); ok && s != "" {
			return org.ID(s), true, nil
		}
	}
	return "", false, nil
}

// Deployment is what org.Route needs to know: how many organizations there
// are and whether def is one of them (one round trip).
func (d *Directory) Deployment(ctx context.Context, def org.ID) (org.Deployment, error) {
	var n *redis.IntCmd
	var has *redis.BoolCmd
	_, err := d.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		n = p.HLen(ctx, directoryOrgs)
		has = p.HExists(ctx, directoryOrgs, string(def))
		return nil
	})
	if err != nil {
		return org.Deployment{}, wrap("directory", err)
	}
	return org.Deployment{Default: def, Orgs: int(n.Val()), HasDefault: has.Val()}, nil
}

// Remove forgets organization id in the directory (its record and the
// tenant entries it owns) in one step; found is false when it was not
// registered. Its own keys stay: DeleteOrganizationKeys removes those.
func (d *Directory) Remove(ctx context.Context, id org.ID) (found bool, err error) {
	if err := id.Validate(); err != nil {
		return false, err
	}
	n, err := directoryRemove.Run(ctx, d.rdb, []string{directoryOrgs, directorySlack, directoryTeams, directoryLinks(id)}, string(id)).Int()
	if err != nil {
		return false, wrap("directory remove "+string(id), err)
	}
	return n >= 0, nil
}

// LoadScripts loads the directory's scripts (every master, on a cluster).
func (d *Directory) LoadScripts(ctx context.Context) error {
	return loadScripts(ctx, d.rdb, "load directory scripts", directoryLink, directoryRemove, directoryTeamsInstall, directoryUnlock)
}

// DeleteOrganizationKeys deletes every key of organization id and no other:
// the keys matching usher:{ID}:*, found with SCAN on every master of a
// cluster (an organization lives in one slot, but a slot being migrated has
// keys on two nodes) and unlinked in batches (UNLINK: a big stream is freed
// off Redis's main thread). The '}' in the pattern keeps usher:{acme}:*
// from matching usher:{acme-2}:..., and an org.ID has no glob characters.
// It returns how many keys it deleted. Whoever still writes to the
// organization while it runs (a replica serving it) may leave keys behind:
// remove it from the directory first.
func DeleteOrganizationKeys(ctx context.Context, rdb redis.UniversalClient, id org.ID) (int, error) {
	if err := id.Validate(); err != nil {
		return 0, err
	}
	pattern := orgPrefix(id) + "*"
	var (
		mu      sync.Mutex // ForEachMaster runs the nodes concurrently
		deleted int
	)
	scan := func(ctx context.Context, node redis.UniversalClient) error {
		iter := node.Scan(ctx, 0, pattern, 1000).Iterator()
		var batch []string
		flush := func() error {
			if len(batch) == 0 {
				return nil
			}
			// rdb, not node: on a cluster it routes the batch (one slot) to
			// the slot's master even if the slot moved during the scan.
			n, err := rdb.Unlink(ctx, batch...).Result()
			mu.Lock()
			deleted += int(n)
			mu.Unlock()
			batch = batch[:0]
			return err
		}
		for iter.Next(ctx) {
			batch = append(batch, iter.Val())
			if len(batch) == 500 {
				if err := flush(); err != nil {
					return err
				}
			}
		}
		if err := iter.Err(); err != nil {
			return err
		}
		return flush()
	}
	var err error
	if cl, ok := rdb.(*redis.ClusterClient); ok {
		err = cl.ForEachMaster(ctx, func(ctx context.Context, node *redis.Client) error { return scan(ctx, node) })
	} else {
		err = scan(ctx, rdb)
	}
	if err != nil {
		return deleted, wrap("delete organization "+string(id), err)
	}
	return deleted, nil
}
