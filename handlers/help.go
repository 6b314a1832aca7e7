package handlers

import (
	"context"
	"strings"

	"github.com/usher-chat/usher/handlers/org"
)

// help lists the commands or explains one; it needs no storage.
func (s *Service) help(_ context.Context, c *call) (Reply, error) {
	if len(c.cmd.Args) > 0 {
		name := strings.ToLower(strings.Join(c.cmd.Args, " "))
		spec, ok := s.registry.Lookup(name)
		if !ok || spec.Hidden {
			if r, ok := s.familyHelp(name); ok {
				return r, nil
			}
			e := org.Errorf(org.CodeInvalid, "There is no command %q.", name)
			if near := s.registry.Suggest(c.cmd.Args[0]); near != "" {
				return Reply{}, e.WithHint("Did you mean %q?", near)
			}
			return Reply{}, e.WithHint("Type help to see every command.")
		}
		text := spec.Summary
		if spec.Help != "" {
			text = spec.Help
		}
		r := Reply{Message: Message{Title: spec.Verb, Text: "Usage: " + spec.Usage + "\n" + text}}
		for _, f := range spec.Flags {
			if f.Help == "" || f.Hidden {
				continue
			}
			name := "--" + f.Name
			if f.Value != "" {
				name += " " + f.Value
			}
			r.Fields = append(r.Fields, Field{Label: name, Value: f.Help})
		}
		return r, nil
	}
	r := Reply{Message: Message{Title: "usher commands", Footer: "help COMMAND explains one, e.g. help invite."}}
	for _, spec := range s.registry.Visible() {
		r.Items = append(r.Items, Item{Text: spec.Usage + " — " + spec.Summary})
	}
	return r, nil
}

// familyHelp answers help for the first word of two-word commands
// ("help workspace") with those commands: help lists "workspace create", so
// people ask about "workspace".
func (s *Service) familyHelp(name string) (Reply, bool) {
	r := Reply{Message: Message{Title: name + " commands"}}
	for _, spec := range s.registry.Visible() {
		if first, _, ok := strings.Cut(spec.Verb, " "); ok && first == name {
			r.Items = append(r.Items, Item{Text: spec.Usage + " — " + spec.Summary})
			r.Footer = "help COMMAND explains one, e.g. help " + spec.Verb + "."
		}
	}
	return r, len(r.Items) > 0
}

// pointUsage is the usage line of the verbs usher does not have but people
// type for deactivate and revoke.
const pointUsage = "deactivate EMAIL (a member), or revoke EMAIL|ID (a pending invitation)"

// pointElsewhere answers remove and uninvite: "unknown command" with a guess
// at a similar-looking verb ("revoke" for "remove") leaves people unsure
// which of the two they meant, so name both with what each is for.
func (s *Service) pointElsewhere(_ context.Context, c *call) (Reply, error) {
	typed := c.cmd.Verb
	if f := strings.Fields(c.req.Text); len(f) > 0 {
		typed = strings.TrimPrefix(strings.ToLower(f[0]), "/") // the alias as typed, not "remove"
	}
	return Reply{}, org.Errorf(org.CodeInvalid, "usher has no %s command.", typed).
		WithHint("To take a member's access away: deactivate EMAIL. To withdraw a pending invitation: revoke EMAIL|ID.")
}

// cancelOrPoint is the Cancel button's verb; typed with an address, it is
// someone trying to cancel an invitation, which is revoke.
func (s *Service) cancelOrPoint(ctx context.Context, c *call) (Reply, error) {
	if len(c.cmd.Args) == 0 {
		return s.cancel(ctx, c)
	}
	return Reply{}, org.Errorf(org.CodeInvalid, "cancel only closes a confirmation; it takes no address.").
		WithHint("To withdraw a pending invitation: revoke EMAIL|ID. To take a member's access away: deactivate EMAIL.")
}
