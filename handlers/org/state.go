package org

import "time"

// Query names what one command needs to read. A store answers a whole Query in
// one round trip, so a command costs one read and at most one atomic write.
type Query struct {
	Actor string // email of the acting person; Snapshot.Actor is nil if unknown
	// Identity, when set, asks which user email the chat identity is linked to.
	Identity string

	Users    []string // users by email
	AllUsers bool
	// AllAccess reads, into Snapshot.AllUsers, only the users with access
	// to some workspace (AccessTo: to that one), and of them only who they
	// are and their workspaces (Email, Spelling, Workspaces): the members of
	// workspaces, without the transfer of everyone else.
	AllAccess  bool
	AccessTo   string
	Workspaces bool
	Admins     bool // emails of active admins
	Invitation string
	TokenHash  string   // invitation by the hash of its link's secret
	OpenFor    []string // the open (pending or requested) invitation per invitee email
	Pending    bool     // every pending invitation of the org, oldest first
	PendingBy  string   // pending invitations sent by this email
	Requests   bool     // every invitation request waiting for approval
	QuotaOf    string   // invitations sent today by this email
	QuotaDay   string   // the day of QuotaOf, "20260102" (UTC)
	AuditLimit int      // newest audit entries to read, 0 for none
	Digest     bool     // the admin digest's schedule state (Snapshot.Digest)

	// UserPage reads users by email order from Offset (0-based), at most
	// Count of them, with the total (Snapshot.Page, Snapshot.UserTotal): a
	// provider's paged import reads one page, not every user.
	UserPage *Page
	// ExternalID reads the user a provider knows by this id
	// (Snapshot.External), through the index storage keeps of them.
	ExternalID string

	// Invitations reads several invitations by id (Snapshot.Invitations).
	Invitations []string

	// Whole lifts the store's cap on the Pending, PendingBy and Requests
	// lists: a paged or searched list needs every row to count its pages.
	Whole bool
}

// Snapshot is what a store read for a Query.
type Snapshot struct {
	Settings     Settings
	Actor        *User
	IdentityUser string // email the Query's Identity is linked to, if any
	Users        map[string]*User
	AllUsers     []*User // ordered by email
	Page         []*User // Query.UserPage, ordered by email
	UserTotal    int     // how many users there are, with Query.UserPage
	External     *User   // Query.ExternalID's user, nil when none
	Workspaces   []Workspace
	Admins       []string
	Invitation   *Invitation
	Invitations  map[string]*Invitation // by id, for Query.Invitations; absent ids are left out
	Open         map[string]*Invitation // by invitee email
	Pending      []*Invitation
	PendingTotal int // how many pending invitations exist, when Pending was cut short
	Requests     []*Invitation
	Quota        int
	Audit        []AuditEntry // newest first
	Digest       DigestState
	// Revision counts changes to the settings and workspaces; a Change that
	// pins it (PinRevision) is refused once either changed after the read.
	Revision int64
}

// Page is a window of an ordered list.
type Page struct {
	Offset, Count int
}

// DueItem is scheduled work (see reminder.go): a pending invitation's next
// reminder or expiry (Kind DueInvitation), or the admin digest (DueDigest).
type DueItem struct {
	Kind         string
	InvitationID string
	At           time.Time
	// Claim identifies this replica's claim on the item, to acknowledge it once
	// done; an unacknowledged claim returns to the queue when its lease ends.
	Claim string
}

// DigestState is where the admin digest's schedule stands: the slot of the
// next digest (zero: none planned) and the schedule it was planned on.
type DigestState struct {
	Next     time.Time
	Schedule string
}

// DigestWrite moves the admin digest to its next slot. The store refuses it
// with a *PreconditionError unless the planned slot is still ExpectNext, so
// one digest goes out per slot however many replicas try.
type DigestWrite struct {
	ExpectNext time.Time
	Next       time.Time // zero: no digest planned (digest-schedule off)
	Schedule   string
}

// Change is one atomic transition of the organization's state, with its audit
// entries. A store applies all of it or none of it, and refuses it with a
// *PreconditionError if what it was computed from has changed since it was read.
type Change struct {
	Users       []UserWrite
	Invitations []InvitationWrite
	Workspace   *Workspace // created; must not exist yet
	// RenameWorkspace and DeleteWorkspace change a workspace that must still
	// be as read (its creator and creation time). Neither touches the users:
	// the change's Users carry every member's grants, each pinned to the
	// version read.
	RenameWorkspace *WorkspaceRename
	DeleteWorkspace *Workspace
	Settings        map[string]string
	Digest          *DigestWrite
	Quota           *QuotaUse
	Links           []IdentityLink
	// EndSessions signs the named users out of the web everywhere.
	EndSessions []string
	Audit       []AuditEntry
	Now         time.Time
	// Actor and ActorVersion pin the acting user as read: an admin demoted or
	// deactivated after the read cannot complete an admin action decided on it.
	Actor        string
	ActorVersion int64
	// MoveRevision moves the revision though no setting or workspace
	// changes: the change alters who has which workspace, so that a rename
	// or delete decided on the members as they were is decided again.
	MoveRevision bool
	// PinRevision refuses the change if the settings or workspaces changed
	// since Revision was read (a decision taken on a remembered snapshot).
	PinRevision bool
	Revision    int64
	// NoUsers are emails that must not belong to a user yet (an invitation
	// decided without reading them).
	NoUsers []string
	// Messages are chat messages queued in the same atomic step, so the
	// state change and what it tells people are stored together or not at all.
	Messages []QueuedMessage
	// Progress counts into a bulk invitation's progress record (progress.go).
	Progress []ProgressWrite
}

// QueuedMessage is one chat message for the outbox, already encoded by the
// platform adapter that will send it.
type QueuedMessage struct {
	Platform string
	Channel  string // the pacing channel, "" for none
	Payload  []byte
}

// UserWrite stores a user. Version is the version read (0: the user must not
// exist yet). Storage keeps the active-admin index and refuses, with
// CodeLastAdmin, a write that would leave the organization without one.
type UserWrite struct {
	User    *User
	Version int64
	// OldExternalID is the provider id the user had when read, when the
	// write changes it: storage drops it from its index in the same step.
	OldExternalID string
}

// InvitationWrite stores an invitation. Expect is the status read ("" for a new
// invitation); Version the version read. NewTokenHash replaces the link's
// secret (the old hash dies at once); terminal states drop the token.
type InvitationWrite struct {
	Invitation   *Invitation
	Expect       InvitationStatus
	Version      int64
	NewTokenHash string
	// Was, when set, is the invitation as read at Version: the store may
	// then write only what differs from it (recording a delivery changes
	// one field, not its indexes). The write is guarded by Version all
	// the same.
	Was *Invitation
}

// QuotaUse counts invitations against a per-day limit atomically with creating
// them; a limit of 0 means unlimited (admins with --force).
type QuotaUse struct {
	Email string
	Day   string
	N     int
	Limit int
}

// IdentityLink remembers which user a chat identity belongs to.
type IdentityLink struct {
	Identity string
	Email    string
}
