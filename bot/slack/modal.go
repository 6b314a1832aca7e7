package slack

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/slack-go/slack"

	"github.com/usher-chat/usher/handlers"
	"github.com/usher-chat/usher/handlers/org"
)

// The invite modal: `/usher invite` with no arguments.
const (
	inviteCallback = "usher_invite"
	blockEmails    = "emails"
	blockRole      = "role"
	blockSpaces    = "workspaces"
	blockNote      = "note"
	elemValue      = "value"
	maxNote        = 500
	maxInvitees    = 1000
	// maxPaste is the most a plain_text_input takes: Slack caps max_length
	// at 3,000 characters (docs.slack.dev, Block Kit, plain-text input
	// element), about 120 addresses; a longer list goes in the command's
	// text, which the help says.
	maxPaste = 3000
)

// ModalOrigin is the modal's private_metadata: where the command was typed,
// so the outcome can be shown there.
type ModalOrigin struct {
	Channel     string `json:"c,omitempty"`
	ResponseURL string `json:"r,omitempty"`
}

// InviteModal is the invite form, with the organization's workspaces.
func InviteModal(workspaces []string, origin ModalOrigin) slack.ModalViewRequest {
	meta, _ := json.Marshal(origin)
	emails := slack.NewPlainTextInputBlockElement(plain("bob@example.com, carol@example.com"), elemValue).WithMultiline(true).WithMaxLength(maxPaste)
	roles := []*slack.OptionBlockObject{}
	for _, r := range []org.Role{org.RoleAdmin, org.RoleMember, org.RoleViewer} {
		roles = append(roles, slack.NewOptionBlockObject(string(r), plain(string(r)), nil))
	}
	role := slack.NewOptionsSelectBlockElement(slack.OptTypeStatic, plain("Role"), elemValue, roles...)
	role.InitialOption = roles[1]
	blocks := []slack.Block{
		slack.NewInputBlock(blockEmails, plain("Email addresses"), plain("Paste a list: commas, spaces or one per line. Up to 3,000 characters here; for a longer list type /usher invite followed by it."), emails),
		slack.NewInputBlock(blockRole, plain("Role"), nil, role),
	}
	if len(workspaces) > 0 {
		var opts []*slack.OptionBlockObject
		for _, w := range workspaces {
			if len(opts) == 100 {
				break
			}
			opts = append(opts, slack.NewOptionBlockObject(w, plain(truncate(w, 75)), nil))
		}
		ms := slack.NewOptionsMultiSelectBlockElement(slack.MultiOptTypeStatic, plain("Workspaces"), elemValue, opts...)
		blocks = append(blocks, slack.NewInputBlock(blockSpaces, plain("Workspaces"), plain("Editor access (viewers: reader)."), ms).WithOptional(true))
	}
	note := slack.NewPlainTextInputBlockElement(plain("Shown to the people you invite"), elemValue).WithMultiline(true).WithMaxLength(maxNote)
	blocks = append(blocks, slack.NewInputBlock(blockNote, plain("Note"), nil, note).WithOptional(true))
	return slack.ModalViewRequest{
		Type: slack.VTModal, CallbackID: inviteCallback, PrivateMetadata: string(meta),
		Title: plain("Invite people"), Submit: plain("Invite"), Close: plain("Cancel"),
		Blocks: slack.Blocks{BlockSet: blocks},
	}
}

// openInviteModal opens the invite form for the person who typed /usher
// invite, if they may invite: the form lists workspace names, which are not
// for guests, deactivated users or anyone the invite rules refuse, so it is
// the use case (Service.InviteForm) that decides and picks the names. The
// trigger lives 3 seconds: the identity is usually cached, and the read is
// bounded so views.open still has its time.
func (a *App) openInviteModal(ctx context.Context, o Org, sc slack.SlashCommand) *slack.Msg {
	id, why := a.identity(ctx, o, sc.TeamID, sc.UserID)
	if why != nil {
		return Ephemeral(*why)
	}
	fctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	form, refusal := o.Service.InviteForm(fctx, id)
	cancel()
	if refusal != nil {
		return Ephemeral(refusal.Message)
	}
	octx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if _, err := a.apis.of(octx, sc.TeamID, sc.EnterpriseID).OpenViewContext(octx, sc.TriggerID, InviteModal(form.Workspaces, ModalOrigin{Channel: sc.ChannelID, ResponseURL: sc.ResponseURL})); err != nil {
		a.log.WarnContext(ctx, "slack: views.open failed", "err", err)
		return Ephemeral(handlers.Message{Tone: handlers.ToneError, Text: "usher couldn't open the invite form.",
			Footer: "Type the command instead: /usher invite EMAIL... [--role ROLE] [--workspace NAME]..."})
	}
	return nil
}

// inviteForm is what the modal's fields say.
type inviteForm struct {
	Emails     []string
	Role       string
	Workspaces []string
	Note       string
}

func readInviteForm(v *slack.ViewState) (inviteForm, map[string]string) {
	var f inviteForm
	errs := map[string]string{}
	if v == nil {
		errs[blockEmails] = "Name at least one email address."
		return f, errs
	}
	get := func(block string) slack.BlockAction { return v.Values[block][elemValue] }
	for _, e := range strings.FieldsFunc(get(blockEmails).Value, func(r rune) bool {
		return r == ',' || r == ';' || r == ' ' || r == '\n' || r == '\t'
	}) {
		e, _ = Unwrap(e)
		// The command carries the spelling typed (the invitation keeps it
		// for display); one person named twice, in any case, counts once.
		id, sp, err := org.SpellEmail(e)
		if err != nil {
			errs[blockEmails] = fmt.Sprintf("%q is not an email address.", truncate(e, 60))
			break
		}
		if !slices.ContainsFunc(f.Emails, func(have string) bool { return org.EmailKey(have) == id }) {
			f.Emails = append(f.Emails, sp)
		}
	}
	if len(f.Emails) == 0 && errs[blockEmails] == "" {
		errs[blockEmails] = "Name at least one email address."
	}
	if len(f.Emails) > maxInvitees {
		errs[blockEmails] = fmt.Sprintf("That is %d addresses; invite at most %d at once.", len(f.Emails), maxInvitees)
	}
	f.Role = get(blockRole).SelectedOption.Value
	if f.Role == "" {
		f.Role = string(org.RoleMember)
	}
	if _, err := org.ParseRole(f.Role); err != nil {
		errs[blockRole] = "Choose admin, member or viewer."
	}
	for _, o := range get(blockSpaces).SelectedOptions {
		f.Workspaces = append(f.Workspaces, o.Value)
	}
	f.Note = strings.TrimSpace(get(blockNote).Value)
	if len([]rune(f.Note)) > maxNote {
		errs[blockNote] = fmt.Sprintf("At most %d characters.", maxNote)
	}
	return f, errs
}

// command is the form as a command line.
func (f inviteForm) command() string {
	parts := []string{"invite"}
	for _, e := range f.Emails {
		parts = append(parts, shellQuote(e))
	}
	parts = append(parts, "--role", shellQuote(f.Role))
	for _, w := range f.Workspaces {
		parts = append(parts, "--workspace", shellQuote(w))
	}
	if f.Note != "" {
		parts = append(parts, "--note", shellQuote(f.Note))
	}
	return strings.Join(parts, " ")
}

func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func (a *App) submitInvite(ctx context.Context, o Org, ic *slack.InteractionCallback) *slack.ViewSubmissionResponse {
	deadline := time.Now().Add(a.budget)
	f, errs := readInviteForm(ic.View.State)
	if len(errs) > 0 {
		return slack.NewErrorsViewSubmissionResponse(errs)
	}
	team := firstNonEmpty(ic.Team.ID, ic.User.TeamID)
	var origin ModalOrigin
	_ = json.Unmarshal([]byte(ic.View.PrivateMetadata), &origin)
	reply := a.within(ctx, deadline, "invite", func(ctx context.Context) handlers.Reply {
		return a.act(ctx, o, team, ic.User.ID, f.command(), nil, replyContext{responseURL: origin.ResponseURL, channel: origin.Channel}, nil)
	})
	if reply.Code == org.CodeInvalid || reply.Code == org.CodeNotFound || reply.Code == org.CodeForbidden || reply.Code == org.CodeLimit {
		// Refused before anything was done: say so on the form, keep it open.
		block := blockEmails
		if reply.Code == org.CodeNotFound && len(f.Workspaces) > 0 {
			block = blockSpaces
		}
		return slack.NewErrorsViewSubmissionResponse(map[string]string{block: truncate(reply.Text, 150)})
	}
	a.respond(ctx, o, respondTarget{ResponseURL: origin.ResponseURL, Channel: origin.Channel, UserID: ic.User.ID, Ephemeral: true, Team: team}, reply.Message, false)
	return nil
}
