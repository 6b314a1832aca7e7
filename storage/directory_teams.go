package storage

import (
	"context"
	"crypto/rand"
	_ "embed"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/usher-chat/usher/handlers/org"
)

// Teams installations in the directory (issue 15, item 7). A tenant that
// installed usher itself (installationUpdate "add") is linked to its
// organization while usher is installed somewhere in it; the removal of its
// last installation unlinks it and remembers the organization, which a
// reinstall links back. The keys share the directory's hash tag:
//
//	usher:{_directory}:teams:installs:X    set   tenant X's installations (conversation ids)
//	usher:{_directory}:teams:former        hash  tenant id -> the org it had when unlinked
//	usher:{_directory}:teams:self          hash  tenant id -> org, when an install made the link
//	usher:{_directory}:teams:installing:X  string a lock: one install of tenant X creates its org
const (
	directoryTeamsFormer = directoryPrefix + "teams:former"
	directoryTeamsSelf   = directoryPrefix + "teams:self"
)

func directoryTeamsInstalls(tenant string) string {
	return directoryPrefix + "teams:installs:" + tenant
}

func directoryTeamsInstalling(tenant string) string {
	return directoryPrefix + "teams:installing:" + tenant
}

var (
	//go:embed lua/directory_teams_install.lua
	directoryTeamsInstallSource string
	directoryTeamsInstall       = redis.NewScript(directoryTeamsInstallSource)

	// directoryUnlock deletes a lock only when it is still the caller's.
	directoryUnlock = redis.NewScript(`if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`)
)

// TeamsInstall says what recording a Teams installation did.
type TeamsInstall string

const (
	// TeamsLinked: the tenant is linked (to Org) and stays so.
	TeamsLinked TeamsInstall = "linked"
	// TeamsRelinked: the tenant was unlinked by an uninstall and is linked
	// back to the organization it had (Org).
	TeamsRelinked TeamsInstall = "relinked"
	// TeamsUnlinked: the tenant's last installation was removed; it is no
	// longer linked (Org is the organization it had).
	TeamsUnlinked TeamsInstall = "unlinked"
	// TeamsNone: the tenant is linked to nothing; nothing was recorded.
	TeamsNone TeamsInstall = "none"
)

// TeamsInstalled records an installation of usher in conversation conv of
// Teams tenant (installationUpdate "add"): when the directory links the
// tenant (or linked it until its last uninstall, and that organization
// still exists), the installation is recorded and the organization
// returned; otherwise nothing is written (TeamsNone: the caller creates
// the tenant's organization, own, then calls again). own is the
// organization an install of the tenant creates: a link to it is the
// install's, which the tenant's last uninstall undoes. Idempotent.
func (d *Directory) TeamsInstalled(ctx context.Context, tenant, conv string, own org.ID) (org.ID, TeamsInstall, error) {
	return d.teamsInstall(ctx, "add", tenant, conv, own)
}

// TeamsRemoved records the removal of the installation in conv (action
// "remove"). The last recorded installation of a tenant whose link an
// install made unlinks it (TeamsUnlinked); its organization and everything
// in it stay. A tenant an operator linked stays linked, and a removal of an
// installation usher never recorded changes nothing. Idempotent.
func (d *Directory) TeamsRemoved(ctx context.Context, tenant, conv string) (org.ID, TeamsInstall, error) {
	return d.teamsInstall(ctx, "remove", tenant, conv, "")
}

func (d *Directory) teamsInstall(ctx context.Context, mode, tenant, conv string, own org.ID) (org.ID, TeamsInstall, error) {
	t := org.TeamsTenant(tenant)
	if err := t.Validate(); err != nil {
		return "", "", err
	}
	if conv == "" || len(conv) > 512 {
		return "", "", errors.New("teams installation: bad conversation id")
	}
	// The script checks what was read here (the owner's links set is a key
	// it must be given), so a concurrent link or unlink makes it read again.
	for attempt := 0; attempt < 8; attempt++ {
		var owner, former *redis.StringCmd
		if _, err := d.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			owner = p.HGet(ctx, directoryTeams, t.TenantID)
			former = p.HGet(ctx, directoryTeamsFormer, t.TenantID)
			return nil
		}); err != nil && !errors.Is(err, redis.Nil) {
			return "", "", wrap("directory teams install", err)
		}
		expect := owner.Val()
		if expect == "" && mode == "add" {
			expect = former.Val()
		}
		links := directoryPrefix + "links:_" // no organization: a key no id can name (no _ in an id)
		if expect != "" {
			links = directoryLinks(org.ID(expect))
		}
		res, err := directoryTeamsInstall.Run(ctx, d.rdb,
			[]string{directoryOrgs, directoryTeams, directoryTeamsFormer, directoryTeamsInstalls(t.TenantID), links, directoryTeamsSelf},
			mode, t.TenantID, conv, expect, string(own)).StringSlice()
		if err != nil {
			return "", "", wrap("directory teams install", err)
		}
		switch {
		case len(res) >= 2 && (res[0] == "linked" || res[0] == "relinked" || res[0] == "unlinked"):
			return org.ID(res[1]), TeamsInstall(res[0]), nil
		case len(res) == 1 && res[0] == "none":
			return "", TeamsNone, nil
		case len(res) == 1 && res[0] == "stale":
			continue
		default:
			return "", "", fmt.Errorf("directory teams install: unexpected reply %q", res)
		}
	}
	return "", "", errors.New("directory teams install: the tenant's link kept changing; try again")
}

// LockTeamsInstall takes tenant's install lock for ttl, so that of many
// installations arriving at once (an admin's setup policy installs usher
// for everyone) exactly one creates the tenant's organization. ok is false
// when someone else holds it; unlock releases it (only if still held).
func (d *Directory) LockTeamsInstall(ctx context.Context, tenant string, ttl time.Duration) (unlock func(), ok bool, err error) {
	t := org.TeamsTenant(tenant)
	if err := t.Validate(); err != nil {
		return nil, false, err
	}
	b := make([]byte, 16)
	rand.Read(b)
	token, key := hex.EncodeToString(b), directoryTeamsInstalling(t.TenantID)
	ok, err = d.rdb.SetNX(ctx, key, token, ttl).Result()
	if err != nil || !ok {
		return nil, false, wrap("directory teams install lock", err)
	}
	return func() {
		// Its own context: the request's may be done, and a lock left
		// behind would only delay the next install by ttl.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		directoryUnlock.Run(ctx, d.rdb, []string{key}, token)
	}, true, nil
}
