package handlers

import (
	"context"

	"github.com/usher-chat/usher/handlers/command"
)

// verbs is the command language: every verb with its usage and help, and the
// use case that runs it. help is generated from this table.
func (s *Service) verbs() ([]command.Spec, map[string]func(context.Context, *call) (Reply, error)) {
	confirm := command.FlagSpec{Name: "confirm", Help: "skip the confirmation step (the Confirm button adds it)"}
	// from is what a confirmation button was decided on (confirm.go); people
	// never type it, so help does not list it.
	from := command.FlagSpec{Name: fromFlag, Value: "STATE", Hidden: true}
	// inOrg is the organization of an invitation the bell lists from another
	// one (bell.go); its buttons add it.
	inOrg := command.FlagSpec{Name: orgFlag, Value: "ORG", Hidden: true}
	type verb struct {
		spec command.Spec
		run  func(context.Context, *call) (Reply, error)
	}
	all := []verb{
		{command.Spec{
			Verb: "invite", MinArgs: 1, MaxArgs: -1,
			Usage:   "invite EMAIL... [--role admin|member|viewer] [--workspace NAME[:manager|editor|reader]]... [--note TEXT]",
			Summary: "invite people by email; the link goes to them in chat (or by email)",
			Help: "Invites one or more people: up to 1,000 addresses at once, separated by commas, spaces or line breaks (a list pasted from a mail client works too). The role defaults to member. Each --workspace gives access to one workspace, " +
				"as editor unless you name a role (viewers are always readers); --workspace all (or all:ROLE) gives every workspace there is. " +
				"usher sends the invitation to each person directly in chat with Accept and Decline buttons, by email when they are not in chat " +
				"and usher sends email, or else gives you the link to forward.\n" +
				"Admins may pass --force to exceed the daily invitation limit. --update changes the role and workspaces of a pending invitation.\n" +
				"More than 20 addresses make a bulk invitation: every address is checked first, the answer counts who was invited, skipped (named twice, already a member, already invited) and refused (not an address, domain not allowed, deactivated), with a few examples each, " +
				"and a progress message follows, updated as the invitations are delivered. In usher shell, --file PATH reads the addresses from a file.",
			Flags: []command.FlagSpec{
				{Name: "role", Value: "ROLE", Help: "admin, member (default) or viewer"},
				{Name: "workspace", Value: "NAME[:ROLE]", Repeat: true, Help: "a workspace, optionally with manager, editor or reader; all (or all:ROLE) for every workspace"},
				{Name: "note", Value: "TEXT", Help: "a note shown to the invitee"},
				{Name: "force", Help: "admins only: exceed the daily invitation limit"},
				{Name: "update", Help: "change a pending invitation instead of refusing"},
			},
		}, s.invite},
		{command.Spec{
			Verb: "invitations", Aliases: []string{"pending"}, MaxArgs: 0,
			Usage:   "invitations [--all|--mine] [--page N] [--search TEXT] [--unreachable ID]",
			Summary: "list pending invitations, with Show link / Resend / Revoke",
			Help: "Admins see every pending invitation (--mine: only those they sent); everyone else sees the ones they sent. Invitations addressed to you are listed too. " +
				"Newest first, 15 a page; --search keeps those whose email, inviter or workspaces contain the text.\n" +
				"--unreachable ID lists the people of bulk invitation ID that usher could not reach (not in chat, no email), 15 a page, as the progress message's Show their links button does: " +
				"admins get a new link for each pending invitation (the previous link stops working, as with link EMAIL); whoever sent the bulk sees who they are.",
			Flags: append([]command.FlagSpec{{Name: "all", Help: "every pending invitation (admins)"}, {Name: "mine", Help: "only those you sent"},
				{Name: unreachableFlag, Value: "ID", Help: "the people of bulk invitation ID not in chat, with new links (admins)"}}, pageFlags...),
		}, s.invitations},
		{command.Spec{
			Verb: "link", MinArgs: 1, MaxArgs: 1, Usage: "link EMAIL|ID",
			Summary: "show an invitation's link again (admins; the old link stops working)",
			Help:    "usher stores only a hash of each link's secret, so showing a link again makes a new one: the previous link stops working.",
		}, s.showLink},
		{command.Spec{
			Verb: "resend", MinArgs: 1, MaxArgs: 1, Usage: "resend EMAIL|ID",
			Summary: "send a pending invitation again, with a fresh link",
		}, s.resend},
		{command.Spec{
			Verb: "revoke", MinArgs: 1, MaxArgs: 1, Usage: "revoke EMAIL|ID",
			Summary: "withdraw a pending invitation (asks for confirmation)",
			Flags:   []command.FlagSpec{confirm, from},
		}, s.revoke},
		{command.Spec{
			Verb: "members", Aliases: []string{"users"}, MaxArgs: 0,
			Usage:   "members [--role admin|member|viewer] [--workspace NAME] [--status active|deactivated] [--page N] [--search TEXT] [--export]",
			Summary: "list the organization's members",
			Help: "By email, 20 a page; --search keeps those whose email, name or workspaces contain the text. " +
				"--export (admins) gives you a private link to download every member as a CSV, valid once for 10 minutes.",
			Flags: append([]command.FlagSpec{
				{Name: "role", Value: "ROLE"}, {Name: "workspace", Value: "NAME"}, {Name: "status", Value: "STATUS"},
				{Name: "export", Help: "admins: download the members as a CSV"},
			}, pageFlags...),
		}, s.members},
		{command.Spec{
			Verb: "role", MinArgs: 2, MaxArgs: 2, Usage: "role EMAIL admin|member|viewer",
			Summary: "change someone's role (admins; asks for confirmation)",
			Help:    "Changes a user's organization role. usher never leaves the organization without an active admin. Viewers' workspace access becomes read-only.",
			Flags:   []command.FlagSpec{confirm, from},
		}, s.changeRole},
		{command.Spec{
			Verb: "deactivate", MinArgs: 1, MaxArgs: 1, Usage: "deactivate EMAIL",
			Summary: "deactivate a user (admins; asks for confirmation)",
			Help:    "A deactivated user can do nothing and is signed out of the web. Their role and workspaces are kept for reactivation. Invitations they sent stay valid unless revoked.",
			Flags:   []command.FlagSpec{confirm, from},
		}, s.deactivate},
		{command.Spec{
			Verb: "activate", Aliases: []string{"reactivate"}, MinArgs: 1, MaxArgs: 1, Usage: "activate EMAIL",
			Summary: "reactivate a user with their previous role and workspaces (admins)",
			Flags:   []command.FlagSpec{confirm, from},
		}, s.activate},
		{command.Spec{
			Verb: "reset-password", MinArgs: 1, MaxArgs: 1, Usage: "reset-password EMAIL",
			Summary: "give a user a temporary password (admins; asks for confirmation)",
			Help:    "usher makes a temporary password, sends it privately to the user in chat, and signs them out of the web. It works for one sign-in within 24 hours, after which they must choose a new one. You see it only if the user can't be reached in chat.",
			Flags:   []command.FlagSpec{confirm, from},
		}, s.resetPassword},
		{command.Spec{Verb: "workspaces", MaxArgs: 0, Usage: "workspaces", Summary: "list workspaces"}, s.workspaces},
		{command.Spec{
			Verb: "workspace create", MinArgs: 1, MaxArgs: 1, Usage: "workspace create NAME",
			Summary: "create a workspace (admins, or everyone if allowed); you become its manager",
		}, s.createWorkspace},
		{command.Spec{
			Verb: "workspace rename", MinArgs: 2, MaxArgs: 2, Usage: "workspace rename OLD NEW",
			Summary: "rename a workspace, in everyone's access (admins)",
		}, s.renameWorkspace},
		{command.Spec{
			Verb: "workspace delete", MinArgs: 1, MaxArgs: 1, Usage: "workspace delete NAME [--force]",
			Summary: "delete a workspace (admins; asks for confirmation)",
			Help:    "Refuses while anyone has access to the workspace, or an open invitation grants it; --force takes it out of everyone's access in the same step.",
			Flags:   []command.FlagSpec{{Name: "force", Help: "delete it though people have access"}, confirm, from},
		}, s.deleteWorkspace},
		{command.Spec{Verb: "access", MinArgs: 1, MaxArgs: 1, Usage: "access EMAIL", Summary: "show a member's workspaces and roles"}, s.showAccess},
		{command.Spec{
			Verb: "access grant", MinArgs: 2, MaxArgs: 21, Usage: "access grant EMAIL WORKSPACE[:manager|editor|reader]...",
			Summary: "give a member access to workspaces (admins; managers in theirs)",
			Help: "The workspace role defaults to editor (reader for viewers), as with invite. Admins may grant any workspace; " +
				"a workspace's managers may grant it, up to manager, but not change another manager's access. The member is told.",
		}, s.grantAccess},
		{command.Spec{
			Verb: "access revoke", MinArgs: 2, MaxArgs: 21, Usage: "access revoke EMAIL WORKSPACE...",
			Summary: "take workspaces away from a member (admins; managers in theirs)",
		}, s.revokeAccess},
		{command.Spec{
			Verb: "settings", MaxArgs: -1, Usage: "settings [KEY [VALUE]]",
			Summary: "show or change organization settings (changes: admins)",
			Help:    settingsHelp(),
			Flags:   []command.FlagSpec{from},
		}, s.settings},
		{command.Spec{Verb: "requests", MaxArgs: 0, Usage: "requests [--page N] [--search TEXT]", Summary: "invitation requests waiting for approval (admins: all; others: the ones you made)",
			Help: "Under anyone-can-invite approval an invitation by a non-admin is a request until an admin approves it. Requests expire like invitations (invite-expiry after they were made); the admins' digest lists them. Oldest first, 15 a page; --search keeps those whose email, requester or workspaces contain the text.", Flags: pageFlags}, s.requests},
		{command.Spec{Verb: "withdraw", MinArgs: 1, MaxArgs: 1, Usage: "withdraw EMAIL|ID",
			Summary: "take back an invitation request you made (before an admin approves it)"}, s.withdraw},
		{command.Spec{
			Verb: "audit", MaxArgs: 0, Usage: "audit [--user EMAIL] [--since DURATION] [--page N] [--search TEXT] [--export]",
			Summary: "read the audit log (admins)",
			Help: "Shows the newest changes first, 25 a page. --user keeps entries by or about one person; --since keeps recent ones, e.g. --since 24h or --since 7d; " +
				"--search keeps entries whose actor, action, target or detail contain the text. --export gives you a private link to download the entries as a CSV, valid once for 10 minutes.",
			Flags: append([]command.FlagSpec{{Name: "user", Value: "EMAIL"}, {Name: "since", Value: "DURATION"}, {Name: "export", Help: "download the entries as a CSV"}}, pageFlags...),
		}, s.audit},
		{command.Spec{Verb: "help", MaxArgs: 2, Usage: "help [COMMAND]", Summary: "list commands, or explain one"}, s.help},
		{command.Spec{Verb: "accept", MinArgs: 1, MaxArgs: 1, Usage: "accept ID", Hidden: true, Flags: []command.FlagSpec{inOrg}}, s.accept},
		{command.Spec{Verb: "decline", MinArgs: 1, MaxArgs: 1, Usage: "decline ID", Hidden: true, Flags: []command.FlagSpec{inOrg}}, s.decline},
		{command.Spec{Verb: "approve", MinArgs: 1, MaxArgs: 1, Usage: "approve ID", Hidden: true}, s.approve},
		{command.Spec{Verb: "deny", MinArgs: 1, MaxArgs: 1, Usage: "deny ID", Hidden: true}, s.deny},
		{command.Spec{Verb: "cancel", MaxArgs: -1, Usage: "cancel (the Cancel button); to withdraw an invitation: revoke EMAIL|ID", Hidden: true}, s.cancelOrPoint},
		// Verbs people reach for that usher spells otherwise (help.go).
		{command.Spec{Verb: "remove", Aliases: []string{"uninvite"}, MaxArgs: -1, Usage: pointUsage, Hidden: true}, s.pointElsewhere},
	}
	specs := make([]command.Spec, len(all))
	run := make(map[string]func(context.Context, *call) (Reply, error), len(all))
	for i, v := range all {
		specs[i] = v.spec
		run[v.spec.Verb] = v.run
	}
	return specs, run
}
