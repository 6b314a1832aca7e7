package org

import (
	"slices"
	"strings"
	"time"
)

// InviteSpec is an invite command, parsed (handlers/invite.go): who is to
// be invited, as what.
type InviteSpec struct {
	Emails    []string          // identities (EmailKey), each once, in the order named
	Spellings map[string]string // each identity as it was first typed
	Role      Role
	Grants    Grants // already narrowed to Role (Grants.ForRole)
	Note      string
	Force     bool // exceed the daily limit (admins only)
	Update    bool // change a pending invitation's role and workspaces
	// WorkspacesGiven is whether the command named any --workspace. An
	// update without one keeps the pending invitation's workspaces (capped
	// for the new role): "invite bob --role viewer" changes the role, it does
	// not silently take bob's workspaces away (issue 14).
	WorkspacesGiven bool
	// All is `--workspace all[:ROLE]`: every workspace of the organization,
	// with AllRole (empty: the invited role's default), expanded against the
	// snapshot the invitation is decided on (WithAllWorkspaces).
	All     bool
	AllRole WorkspaceRole
}

// WithAllWorkspaces is spec with `--workspace all` spelled out against the
// organization's workspaces; spec itself when it did not ask for all.
func (spec InviteSpec) WithAllWorkspaces(have []Workspace) InviteSpec {
	if !spec.All {
		return spec
	}
	grants := make(Grants, 0, len(have))
	for _, w := range have {
		grants = grants.With(Grant{Workspace: w.Name, Role: spec.AllRole})
	}
	spec.Grants = grants.ForRole(spec.Role)
	return spec
}

// InviteOutcome is what an invite command does for one person.
type InviteOutcome int

const (
	// InviteNew: a new invitation, or under approval a request (InvitePlan.Decision).
	InviteNew InviteOutcome = iota
	// InviteUpdated: --update gives the pending invitation the role and
	// workspaces asked for (InviteFor.Next).
	InviteUpdated
	// The refusals: nothing is sent to this person.
	InviteDomainNotAllowed
	InviteMember      // an active member already (InviteFor.User)
	InviteDeactivated // has a deactivated account, to reactivate instead (InviteFor.User)
	// InviteOpenElsewhere: an open invitation the actor may not manage
	// (someone else's, to a non-admin). The actor learns that nothing was
	// sent and why, and nothing else: not who sent it, when, as what, nor
	// its id, so InviteFor carries none of it.
	InviteOpenElsewhere
	InviteRequested // a request for this person already waits for an admin's approval
	// InvitePending: a pending invitation the actor may manage (InviteFor.Open),
	// left as it is: with the same role and workspaces (SameGrant), or others
	// and no --update.
	InvitePending
)

// InviteFor is the decision for one person.
type InviteFor struct {
	Email    string // identity
	Spelling string // as typed: answers name the person this way
	Outcome  InviteOutcome
	User     *User       // InviteMember, InviteDeactivated
	Open     *Invitation // InvitePending, InviteUpdated, InviteRequested: the open invitation as read
	Next     *Invitation // InviteUpdated: the invitation as it will be stored
	// Replaces, for InviteNew, is an open invitation found past its expiry
	// that the sweep has not closed yet: the new one replaces it, in the same
	// change (so that it may take its place in the one-open-per-person index).
	Replaces  *Invitation
	SameGrant bool // InvitePending: it already has the role and workspaces asked for
	// Grants, for InvitePending and InviteUpdated, are the workspaces the
	// invitation has after an update: those named, else its own for the role.
	Grants Grants
}

// InvitePlan is what an invite command does, decided without side effects:
// handlers give the new invitations their ids and links, and commit.
type InvitePlan struct {
	Decision InviteDecision // send the new invitations, or ask the admins to approve them
	For      []InviteFor    // one per email, in the order named
	// Limit is the daily limit the new invitations count against (0: none,
	// --force). OverLimit, when set, refuses the whole command: the actor's
	// quota as read cannot take them all. It is not returned as DecideInvite's
	// error because a decision taken on a remembered snapshot must first be
	// checked for refusals (handlers/invite.go).
	Limit     int
	OverLimit error
}

// New is how many new invitations (or requests) the plan makes.
func (p *InvitePlan) New() int {
	n := 0
	for _, f := range p.For {
		if f.Outcome == InviteNew {
			n++
		}
	}
	return n
}

// Refuses reports whether someone named gets neither a new nor an updated
// invitation.
func (p *InvitePlan) Refuses() bool {
	return slices.ContainsFunc(p.For, func(f InviteFor) bool { return f.Outcome != InviteNew && f.Outcome != InviteUpdated })
}

// CheckInviteSpec is what decides an invite command as a whole, before
// any email: whether the actor may invite as req asks (CheckInvite), to
// workspaces that exist, with --force only as an admin.
func CheckInviteSpec(req InviteSpec, snap *Snapshot) (InviteDecision, error) {
	d, err := CheckInvite(snap.Actor, snap.Settings, req.Role, req.Grants)
	if err != nil {
		return 0, err
	}
	if err := WorkspacesExist(snap.Workspaces, req.Grants); err != nil {
		return 0, err
	}
	if req.Force && snap.Actor.Role != RoleAdmin {
		return 0, Errorf(CodeForbidden, "Only admins can use --force to exceed the daily invitation limit.")
	}
	return d, nil
}

// DecideInvite decides req on snap (read with the actor, the named users and
// their open invitations, the workspaces and the actor's quota for today) at
// now. It returns an error when the command as a whole is refused
// (CheckInviteSpec), else one decision per email.
func DecideInvite(req InviteSpec, snap *Snapshot, now time.Time) (*InvitePlan, error) {
	d, err := CheckInviteSpec(req, snap)
	if err != nil {
		return nil, err
	}
	p := &InvitePlan{Decision: d, For: make([]InviteFor, 0, len(req.Emails))}
	for _, email := range req.Emails {
		p.For = append(p.For, decideOne(req, snap, now, email))
	}
	if n := p.New(); n > 0 {
		p.Limit = snap.Settings.InvitesPerDay
		if req.Force {
			p.Limit = 0
		} else if snap.Quota+n > p.Limit {
			p.OverLimit = Errorf(CodeLimit, "That would be %d invitations today; the limit is %d per person per day (you have sent %d).",
				snap.Quota+n, p.Limit, snap.Quota).WithHint("%s", limitHint(snap.Actor))
		}
	}
	return p, nil
}

// decideOne decides for one email.
func decideOne(req InviteSpec, snap *Snapshot, now time.Time, email string) InviteFor {
	f := InviteFor{Email: email, Spelling: req.Spellings[email]}
	set := snap.Settings
	if !set.DomainAllowed(email) {
		f.Outcome = InviteDomainNotAllowed
		return f
	}
	if u := snap.Users[email]; u != nil {
		f.User, f.Outcome = u, InviteMember
		if !u.Active() {
			f.Outcome = InviteDeactivated
		}
		return f
	}
	open := snap.Open[email]
	if open != nil && open.ExpiredAt(now) {
		// Expired even before the sweep marks it so: a new one replaces it.
		f.Outcome, f.Replaces = InviteNew, open
		return f
	}
	if open == nil {
		f.Outcome = InviteNew
		return f
	}
	if CheckManageInvitation(snap.Actor, set, ActResend, open, email) != nil {
		f.Outcome = InviteOpenElsewhere
		return f
	}
	if open.Status == InvitationRequested {
		f.Outcome, f.Open = InviteRequested, open
		return f
	}
	f.Open, f.Grants = open, req.Grants
	if !req.WorkspacesGiven {
		f.Grants = open.Workspaces.ForRole(req.Role)
	}
	f.SameGrant = open.Role == req.Role && open.Workspaces.Encode() == f.Grants.Encode()
	if f.SameGrant || !req.Update {
		f.Outcome = InvitePending
		return f
	}
	next := open.Clone()
	next.Role, next.Workspaces, next.Updated = req.Role, f.Grants, now
	if req.Note != "" {
		next.Note = req.Note
	}
	f.Outcome, f.Next = InviteUpdated, next
	return f
}

// WorkspacesExist refuses grants to a workspace that does not exist, naming
// those that do.
func WorkspacesExist(have []Workspace, grants Grants) error {
	for _, g := range grants {
		if !slices.ContainsFunc(have, func(w Workspace) bool { return w.Name == g.Workspace }) {
			names := make([]string, len(have))
			for i, w := range have {
				names[i] = w.Name
			}
			slices.Sort(names)
			e := Errorf(CodeNotFound, "There is no workspace %s.", g.Workspace)
			if len(names) == 0 {
				return e.WithHint("There are no workspaces yet; an admin can create one with: workspace create %s", g.Workspace)
			}
			if near := Nearest(g.Workspace, names); near != "" {
				// A typo is likelier than a new workspace: offering to create
				// "fraud-modles" invites a second, misspelled one (issue 14).
				return e.WithHint("Did you mean %s? Workspaces: %s.", near, strings.Join(names, ", "))
			}
			return e.WithHint("Workspaces: %s. Create one with: workspace create %s", strings.Join(names, ", "), g.Workspace)
		}
	}
	return nil
}

// limitHint is what someone over the daily limit can do about it.
func limitHint(actor *User) string {
	if actor.Role == RoleAdmin {
		return "Add --force to send them anyway."
	}
	return "Try again tomorrow, or ask an admin."
}
