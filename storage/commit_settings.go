package storage

import (
	"strconv"

	"github.com/usher-chat/usher/handlers/org"
)

// revisionField is the settings hash's field that counts changes to the
// settings and workspaces (org.Snapshot.Revision); no setting has this key.
const revisionField = "rev"

// pinRevision refuses ch when the settings or workspaces changed since
// ch.Revision was read (a decision taken on a remembered snapshot).
func pinRevision(o *ops, k keys, ch *org.Change) {
	if !ch.PinRevision {
		return
	}
	rev := "" // revision 0: the field was never written
	if ch.Revision > 0 {
		rev = strconv.FormatInt(ch.Revision, 10)
	}
	o.guard(stale, "settings revision", "hfeq", k.settings(), revisionField, rev)
}

// commitSettings creates ch's workspace, which must not exist yet, writes
// its settings, and moves the revision when either changed.
func commitSettings(o *ops, k keys, ch *org.Change) {
	if ws := ch.Workspace; ws != nil {
		o.guard(workspaceTaken, ws.Name, "hfabsent", k.workspaces(), ws.Name)
		o.add("hset", k.workspaces(), ws.Name, workspaceValue(*ws))
	}
	if r := ch.RenameWorkspace; r != nil {
		o.guard(stale, "workspace "+r.From.Name, "hfeq", k.workspaces(), r.From.Name, workspaceValue(r.From))
		o.guard(workspaceTaken, r.To, "hfabsent", k.workspaces(), r.To)
		o.add("hdel", k.workspaces(), r.From.Name)
		// The creator and creation time stay: it is the same workspace.
		o.add("hset", k.workspaces(), r.To, workspaceValue(r.From))
	}
	if ws := ch.DeleteWorkspace; ws != nil {
		o.guard(stale, "workspace "+ws.Name, "hfeq", k.workspaces(), ws.Name, workspaceValue(*ws))
		o.add("hdel", k.workspaces(), ws.Name)
	}
	if len(ch.Settings) > 0 {
		args := make([]string, 0, 2*len(ch.Settings))
		for key, v := range ch.Settings {
			args = append(args, key, v)
		}
		o.add("hset", k.settings(), args...)
	}
	// Moving the revision also refuses any grant decided on the workspaces
	// as they were (handlers pin it: a grant to a workspace renamed or
	// deleted meanwhile is decided again), and a grant moves it (MoveRevision)
	// so that a rename or delete decided on the members before it is too.
	if len(ch.Settings) > 0 || ch.Workspace != nil || ch.RenameWorkspace != nil || ch.DeleteWorkspace != nil || ch.MoveRevision {
		o.add("hincrby", k.settings(), revisionField, "1")
	}
}

// workspaceTaken refuses a workspace whose name is taken.
func workspaceTaken(name, _ string) error {
	return org.Errorf(org.CodeConflict, "Workspace %s already exists.", name)
}

// workspaceValue is a workspace's field in the workspaces hash (keys.go).
func workspaceValue(ws org.Workspace) string { return ws.Creator + "|" + ms(ws.Created) }
