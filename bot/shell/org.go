package shell

// :org: one deployment serves many organizations; the shell switches
// between them, keeping each one's service and chat apart.

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/usher-chat/usher/handlers/org"
)

// Orgs is the deployment's organizations, as the shell needs them for :org.
type Orgs interface {
	// List is every organization in the deployment's directory.
	List(ctx context.Context) ([]OrgInfo, error)
	// Open builds the service of an organization of the directory.
	Open(ctx context.Context, id org.ID) (Service, error)
	// Create makes a new organization id named name with admin as its
	// first admin, as `usher org create` does, and returns one line saying
	// so; or an error saying why it may not (a shell on a real Redis
	// leaves that to the operator).
	Create(ctx context.Context, id org.ID, name, admin string) (note string, err error)
}

// OrgInfo is one organization of the directory.
type OrgInfo struct {
	ID   org.ID
	Name string
}

// SetOrgs lets :org switch between the deployment's organizations; the
// shell is in home, the deployment's default organization (USHER_ORG), whose
// service New was given.
func (s *Shell) SetOrgs(orgs Orgs, home org.ID) {
	delete(s.sessions, s.cur.id)
	s.cur.id, s.home, s.orgs = home, home, orgs
	s.sessions[home] = s.cur
}

// who is the prompt: the current person, and the organization when it is
// not the default one.
func (s *Shell) who() string {
	if s.cur.id == s.home {
		return s.as
	}
	return fmt.Sprintf("[%s] %s", s.cur.id, s.as)
}

// in names se's organization for a line about it, when it is not the
// default one.
func (s *Shell) in(se *session) string {
	if se.id == s.home {
		return ""
	}
	return " in organization " + string(se.id)
}

const orgUsage = "Usage: :org shows where you are; :org ID or :org NAME switches to that organization (e.g. :org acme, :org \"Acme Corp\")."

func (s *Shell) org(ctx context.Context, args []string) {
	if s.orgs == nil {
		fmt.Fprintln(s.out, "  This shell serves one organization only.")
		return
	}
	for _, a := range args {
		if strings.HasPrefix(a, "-") {
			fmt.Fprintf(s.out, "  :org takes no options (got %s). %s\n", a, orgUsage)
			return
		}
	}
	list, err := s.orgs.List(ctx)
	if err != nil {
		fmt.Fprintf(s.out, "  Can't list the organizations: %v\n", err)
		return
	}
	if len(args) == 0 {
		s.listOrgs(list)
		return
	}
	arg := strings.Join(args, " ")
	g, found, err := find(list, arg)
	if err != nil {
		msg := err.Error()
		var oe *org.Error
		if errors.As(err, &oe) {
			msg = oe.Message // without the hint of `usher org create`'s --id
		}
		fmt.Fprintf(s.out, "  %q is neither an organization id nor a name: %s %s\n", arg, msg, orgUsage)
		return
	}
	if !found {
		note, err := s.orgs.Create(ctx, g.ID, g.Name, s.as)
		if err != nil {
			fmt.Fprintf(s.out, "  ✗ %v\n", err)
			return
		}
		if note != "" {
			fmt.Fprintf(s.out, "  %s\n", note)
		}
	}
	se := s.sessions[g.ID]
	if se == nil {
		svc, err := s.orgs.Open(ctx, g.ID)
		if err != nil {
			fmt.Fprintf(s.out, "  ✗ Can't open organization %s: %v\n", g.ID, err)
			return
		}
		se = s.newSession(g.ID, svc)
	}
	s.cur = se
	fmt.Fprintf(s.out, "  You are now in organization %s%s.\n", g.ID, s.defaultNote(g.ID))
}

func (s *Shell) defaultNote(id org.ID) string {
	if id == s.home {
		return " (the default)"
	}
	return ""
}

func (s *Shell) listOrgs(list []OrgInfo) {
	fmt.Fprintf(s.out, "  You are in organization %s%s. The deployment has %d:\n", s.cur.id, s.defaultNote(s.cur.id), len(list))
	for _, g := range list {
		var notes []string
		if g.ID == s.home {
			notes = append(notes, "the default")
		}
		if g.ID == s.cur.id {
			notes = append(notes, "you are here")
		}
		note := ""
		if len(notes) > 0 {
			note = " (" + strings.Join(notes, ", ") + ")"
		}
		fmt.Fprintf(s.out, "  • %s — %s%s\n", g.ID, g.Name, note)
	}
}

// find looks arg up as an organization's id, its name (any case), or the id
// that name makes; not found, it returns the organization arg would create.
func find(list []OrgInfo, arg string) (OrgInfo, bool, error) {
	for _, g := range list {
		if string(g.ID) == arg {
			return g, true, nil
		}
	}
	for _, g := range list {
		if strings.EqualFold(g.Name, arg) {
			return g, true, nil
		}
	}
	id, err := org.ParseID(arg)
	if err != nil {
		if id, err = org.IDFromName(arg); err != nil {
			return OrgInfo{}, false, err
		}
	}
	for _, g := range list {
		if g.ID == id {
			return g, true, nil
		}
	}
	name, err := org.ParseOrgName(arg)
	if err != nil {
		return OrgInfo{}, false, err
	}
	return OrgInfo{ID: id, Name: name}, false, nil
}
