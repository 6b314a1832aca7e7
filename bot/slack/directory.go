package slack

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/slack-go/slack"

	"github.com/usher-chat/usher/handlers/org"
)

// Directory is an organization's directory of its Slack users by workspace
// (storage.SlackDirectory): email -> user id, built from users.list (Tier
// 2, 200 a page: 50 calls for 10,000 people) and kept fresh by the
// team_join and user_change events, so that finding the recipient of an
// invitation is one Redis read rather than one users.lookupByEmail (Tier 3:
// 50 a minute) each.
type Directory interface {
	Lookup(ctx context.Context, orgID org.ID, workspace, email string) (DirEntry, error)
	// LookupMany is Lookup for many addresses in one round trip.
	LookupMany(ctx context.Context, orgID org.ID, workspace string, emails []string) ([]DirEntry, error)
	Put(ctx context.Context, orgID org.ID, workspace string, users []DirUser) error
	// Miss remembers for ttl that users.lookupByEmail found nobody.
	Miss(ctx context.Context, orgID org.ID, workspace, email string, ttl time.Duration) error
	// Lock takes (or extends) the workspace's build for owner.
	Lock(ctx context.Context, orgID org.ID, workspace, owner string, ttl time.Duration) (bool, error)
	// Built ends owner's build: complete at at, or failed (zero).
	Built(ctx context.Context, orgID org.ID, workspace, owner string, at time.Time) error
}

// DirUser is one Slack user as the directory takes it (storage.SlackDirUser).
type DirUser = struct {
	ID, Email string
	Reachable bool
}

// DirEntry is what the directory says of one address (storage.SlackDirEntry).
type DirEntry = struct {
	UserID   string
	Missing  bool
	Built    time.Time
	Building bool
	Failed   time.Time
	Since    time.Time
	Until    time.Time
}

// DirectoryConfig tunes the directory.
type DirectoryConfig struct {
	// Refresh: a directory older than this is listed again in the
	// background (default 24 h); events keep it fresh in between.
	Refresh time.Duration
	// MissTTL is how long "nobody has this address" is believed (default
	// 10 min: someone invited before they join Slack is found soon after).
	MissTTL time.Duration
	// Wait is the longest a queued delivery waits, at a time, for a
	// directory still being built for the first time (default 10 s). It
	// waits half the build's age so far, at least 100 ms: a small
	// workspace (one page) is there at once, and a large one's backlog is
	// not taken out and put back every second.
	Wait time.Duration
	// PageSize is users.list's limit (default 200, Slack's advice).
	PageSize int
	// Lock is how long a build's lock lasts without a page (default
	// buildLock).
	Lock time.Duration
}

func (c DirectoryConfig) withDefaults() DirectoryConfig {
	if c.Refresh <= 0 {
		c.Refresh = 24 * time.Hour
	}
	if c.MissTTL <= 0 {
		c.MissTTL = 10 * time.Minute
	}
	if c.Wait <= 0 {
		c.Wait = 10 * time.Second
	}
	if c.PageSize <= 0 {
		c.PageSize = 200
	}
	if c.Lock <= 0 {
		c.Lock = buildLock
	}
	return c
}

// buildLock is how long a build's lock lasts without a page: a replica
// that died building leaves it to another after this. Deliveries wait for
// a first build, so a dead builder holds them up this long: it is a few
// pages' worth at Tier 2 (one every 3 s), not minutes. A page held up
// longer (a 429's Retry-After) may let a second replica build too, which
// costs calls, not correctness.
const buildLock = 30 * time.Second

// builds runs at most one directory build per workspace in this process;
// the Redis lock makes it one across replicas.
type builds struct {
	mu      sync.Mutex
	running map[string]bool
	owner   string
}

func newBuilds() *builds {
	host, _ := os.Hostname()
	var b [4]byte
	rand.Read(b[:])
	return &builds{running: map[string]bool{}, owner: fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b[:]))}
}

// startBuild lists the workspace's users into the directory, in the
// background, unless this process or another replica is at it.
func (d *DM) startBuild(ctx context.Context, orgID org.ID, workspace string) {
	key := string(orgID) + "/" + workspace
	d.builds.mu.Lock()
	if d.builds.running[key] {
		d.builds.mu.Unlock()
		return
	}
	d.builds.running[key] = true
	d.builds.mu.Unlock()
	go func() {
		defer func() {
			d.builds.mu.Lock()
			delete(d.builds.running, key)
			d.builds.mu.Unlock()
		}()
		// Not the delivery's context: the build outlives the job that
		// found the directory missing.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Hour)
		defer cancel()
		if err := d.BuildDirectory(ctx, orgID, workspace); err != nil {
			d.log.WarnContext(ctx, "slack: directory not built", "org", orgID, "workspace", workspace, "err", err)
		}
	}()
}

// BuildDirectory lists every user of the workspace (users.list, paged,
// each page within the method's shared budget) into the directory, when no
// other replica is doing it.
func (d *DM) BuildDirectory(ctx context.Context, orgID org.ID, workspace string) error {
	_, err := d.buildDirectory(ctx, orgID, workspace, d.dirCfg.Refresh)
	return err
}

// RefreshDirectories rebuilds, for each of orgs, the directory of each of
// its workspaces (where Find looks: Config.WorkspacesOf) that was built
// more than fresh ago, or never: the scheduled refresh
// (SLACK_DIRECTORY_REFRESH), so that no look-up has to notice a directory's
// age first. A replica running the same schedule a moment later finds the
// build's lock taken, or (taking it after) the directory fresh, and lists
// nothing. It returns how many directories it rebuilt.
func (d *DM) RefreshDirectories(ctx context.Context, orgs []org.ID, fresh time.Duration) (int, error) {
	if d.dir == nil {
		return 0, nil
	}
	n := 0
	var errs []error
	for _, o := range orgs {
		workspaces := []string{""}
		if d.workspacesOf != nil {
			ws, err := d.workspacesOf(ctx, o)
			if err != nil {
				errs = append(errs, fmt.Errorf("slack workspaces of %s: %w", o, err))
				continue
			}
			workspaces = ws
		}
		for _, ws := range workspaces {
			key := string(o) + "/" + ws
			d.builds.mu.Lock()
			busy := d.builds.running[key] // a build on use, in this process, under the same owner
			if !busy {
				d.builds.running[key] = true
			}
			d.builds.mu.Unlock()
			if busy {
				continue
			}
			built, err := d.buildDirectory(ctx, o, ws, fresh)
			d.builds.mu.Lock()
			delete(d.builds.running, key)
			d.builds.mu.Unlock()
			switch {
			case errors.Is(err, errNotInstalled):
			case err != nil:
				errs = append(errs, fmt.Errorf("slack directory of %s/%s: %w", o, ws, err))
			case built:
				n++
			}
		}
	}
	return n, errors.Join(errs...)
}

// buildDirectory is BuildDirectory, for a directory built more than fresh
// ago (or never); built says it listed the workspace.
func (d *DM) buildDirectory(ctx context.Context, orgID org.ID, workspace string, fresh time.Duration) (built bool, err error) {
	owner := d.builds.owner
	ok, err := d.dir.Lock(ctx, orgID, workspace, owner, d.dirCfg.Lock)
	if err != nil || !ok {
		return false, err
	}
	// Another replica may have built it between the look-up that found it
	// missing (or stale) and this lock: then there is nothing to do.
	if e, err := d.dir.Lookup(ctx, orgID, workspace, ""); err == nil && !e.Built.IsZero() && d.now().Sub(e.Built) < fresh {
		return false, d.dir.Built(ctx, orgID, workspace, owner, e.Built)
	}
	defer func() {
		at := d.now() // the clock its age is read on (Find, RefreshDirectories)
		if err != nil {
			at = time.Time{}
		}
		if berr := d.dir.Built(context.WithoutCancel(ctx), orgID, workspace, owner, at); berr != nil && err == nil {
			err = berr
		}
	}()
	api, err := d.apis.must(ctx, workspace)
	if err != nil {
		return false, err
	}
	opts := []slack.GetUsersOption{slack.GetUsersOptionLimit(d.dirCfg.PageSize)}
	page := api.GetUsersPaginated(opts...)
	n := 0
	for {
		if err := d.pace.wait(ctx, orgID, workspace, "users.list"); err != nil {
			return false, err
		}
		next, err := page.Next(ctx)
		if page.Done(err) {
			break
		}
		if err != nil {
			if rl, ok := asRateLimited(err); ok {
				d.pace.slow(ctx, orgID, workspace, "users.list", rl)
				continue // the same page, once the budget allows
			}
			return false, fmt.Errorf("slack users.list: %w", err)
		}
		users := make([]DirUser, 0, len(next.Users))
		for _, u := range next.Users {
			users = append(users, dirUser(u.ID, u.Profile.Email, u.Deleted, u.IsBot || u.ID == "USLACKBOT"))
		}
		if err := d.dir.Put(ctx, orgID, workspace, users); err != nil {
			return false, err
		}
		n += len(users)
		if _, err := d.dir.Lock(ctx, orgID, workspace, owner, d.dirCfg.Lock); err != nil {
			return false, err
		}
		page = next
	}
	d.log.InfoContext(ctx, "slack: directory built", "org", orgID, "workspace", workspace, "users", n)
	return true, nil
}

func dirUser(id, email string, deleted, bot bool) DirUser {
	return DirUser{ID: id, Email: email, Reachable: !deleted && !bot && email != ""}
}

// userEvent is the part of a team_join or user_change delivery the
// directory needs.
type userEvent struct {
	Type         string `json:"type"`
	TeamID       string `json:"team_id"`
	EnterpriseID string `json:"enterprise_id"`
	Event        struct {
		Type string `json:"type"`
		User struct {
			ID      string `json:"id"`
			TeamID  string `json:"team_id"`
			Deleted bool   `json:"deleted"`
			IsBot   bool   `json:"is_bot"`
			Profile struct {
				Email string `json:"email"`
			} `json:"profile"`
		} `json:"user"`
	} `json:"event"`
}

// parseUserEvent reads a delivery; ok is false for anything else.
func parseUserEvent(body []byte) (userEvent, bool) {
	var ev userEvent
	if err := json.Unmarshal(body, &ev); err != nil || ev.Type != "event_callback" {
		return ev, false
	}
	switch ev.Event.Type {
	case "team_join", "user_change":
		return ev, ev.Event.User.ID != ""
	}
	return ev, false
}

// directoryEvent applies a team_join or user_change event to the directory
// of the organization the workspace routes to: someone who joined is found
// at once, a changed email moves, a deactivated account leaves. Applying
// one twice changes nothing.
func (a *App) directoryEvent(ctx context.Context, body []byte) error {
	ev, ok := parseUserEvent(body)
	if !ok || a.cfg.Directory == nil {
		return nil
	}
	o, served, err := a.orgs.Serving(ctx, ev.TeamID, ev.EnterpriseID)
	if err != nil {
		return fmt.Errorf("slack %s: %w", ev.Event.Type, err)
	}
	if !served || o.ID == "" {
		return nil
	}
	u := ev.Event.User
	du := dirUser(u.ID, u.Profile.Email, u.Deleted, u.IsBot)
	// The workspaces the delivery side looks in (DM.Find): the default
	// token's (""), or the team's and its enterprise's.
	workspaces := []string{""}
	if a.cfg.WorkspacesOf != nil {
		workspaces = []string{ev.TeamID}
		if ev.EnterpriseID != "" {
			workspaces = append(workspaces, ev.EnterpriseID)
		}
	}
	for _, ws := range workspaces {
		if err := a.cfg.Directory.Put(ctx, o.ID, ws, []DirUser{du}); err != nil {
			return fmt.Errorf("slack %s: %w", ev.Event.Type, err)
		}
	}
	a.log.InfoContext(ctx, "slack: directory updated", "event", ev.Event.Type, "org", o.ID, "team_id", ev.TeamID, "user", u.ID)
	return nil
}

func asRateLimited(err error) (*slack.RateLimitedError, bool) {
	var rl *slack.RateLimitedError
	ok := errors.As(err, &rl)
	return rl, ok
}

// buildWait is how long a queued delivery waits for a first build under
// way since since, its lock held until until: half the build's age, at
// most c.Wait, and no longer than the lock (a builder that died leaves it
// to run out; then a delivery starts the build itself).
func (c DirectoryConfig) buildWait(since, until, now time.Time) time.Duration {
	const least = 100 * time.Millisecond
	w := least
	if !since.IsZero() {
		w = max(w, now.Sub(since)/2)
	}
	if !until.IsZero() {
		w = min(w, max(until.Sub(now), 0)+least)
	}
	return min(w, c.Wait)
}
