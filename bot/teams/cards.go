package teams

import (
	"strings"

	"github.com/infracloudio/msbotbuilder-go/schema"

	"github.com/usher-chat/usher/handlers"
)

// Adaptive Cards. Buttons are Action.Execute (Universal Actions, card
// version 1.4): Teams sends the click as an invoke that usher answers in the
// HTTP response with the replacement card. Their data is {"usher": command}
// and nothing else of it is trusted: the command runs as whoever clicked.

// CardContentType is the attachment content type of an Adaptive Card.
const CardContentType = "application/vnd.microsoft.card.adaptive"

// Card is an Adaptive Card as JSON-ready maps, so golden files show exactly
// what Teams receives.
type Card map[string]any

// Attachment wraps a card for an activity.
func (c Card) Attachment() schema.Attachment {
	return schema.Attachment{ContentType: CardContentType, Content: c}
}

// Activity is a message activity carrying the card.
func (c Card) Activity() OutActivity {
	return OutActivity{Type: "message", Attachments: []schema.Attachment{c.Attachment()}, Summary: c.summary()}
}

func (c Card) summary() string {
	s, _ := c["fallbackText"].(string)
	return s
}

func newCard(body []any, actions []any, fallback string) Card {
	c := Card{
		"type":    "AdaptiveCard",
		"$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
		"version": "1.4",
		"body":    body,
	}
	if len(actions) > 0 {
		c["actions"] = actions
	}
	if fallback != "" {
		c["fallbackText"] = fallback
	}
	return c
}

var toneColors = map[handlers.Tone]string{
	handlers.ToneSuccess: "Good",
	handlers.ToneWarning: "Warning",
	handlers.ToneError:   "Attention",
}

// textBlock is one paragraph; Teams needs a blank line for a line break.
func textBlock(text string, extra map[string]any) map[string]any {
	b := map[string]any{"type": "TextBlock", "text": paragraphs(text), "wrap": true}
	for k, v := range extra {
		b[k] = v
	}
	return b
}

func paragraphs(s string) string {
	s = strings.ReplaceAll(strings.TrimSpace(s), "\r\n", "\n")
	return strings.ReplaceAll(strings.ReplaceAll(s, "\n\n", "\n"), "\n", "\n\n")
}

func factSet(fs []handlers.Field) map[string]any {
	facts := make([]any, 0, len(fs))
	for _, f := range fs {
		facts = append(facts, map[string]any{"title": f.Label, "value": f.Value})
	}
	return map[string]any{"type": "FactSet", "facts": facts}
}

// action renders a button. A button with a confirmation step carries the
// dialog's words so the click can answer with a Confirm / Cancel card
// (Teams has no native confirmation dialog).
func action(b handlers.Button) map[string]any {
	data := map[string]any{"usher": b.Command}
	if b.Confirm != nil {
		data["confirm"] = map[string]string{"title": b.Confirm.Title, "text": b.Confirm.Text, "yes": b.Confirm.Yes, "no": b.Confirm.No}
	}
	a := map[string]any{"type": "Action.Execute", "title": b.Label, "verb": "usher", "data": data}
	switch b.Style {
	case handlers.StylePrimary:
		a["style"] = "positive"
	case handlers.StyleDanger:
		a["style"] = "destructive"
	}
	return a
}

func actions(bs []handlers.Button) []any {
	out := make([]any, 0, len(bs))
	for _, b := range bs {
		out = append(out, action(b))
	}
	return out
}

// RenderMessage turns a reply or delivery into an Adaptive Card.
func RenderMessage(m handlers.Message) Card {
	var body []any
	if m.Title != "" {
		extra := map[string]any{"weight": "Bolder", "size": "Medium"}
		if c, ok := toneColors[m.Tone]; ok {
			extra["color"] = c
		}
		body = append(body, textBlock(m.Title, extra))
	}
	if m.Text != "" {
		var extra map[string]any
		if c, ok := toneColors[m.Tone]; ok && m.Title == "" {
			extra = map[string]any{"color": c}
		}
		body = append(body, textBlock(m.Text, extra))
	}
	if len(m.Fields) > 0 {
		body = append(body, factSet(m.Fields))
	}
	for _, it := range m.Items {
		items := []any{}
		if it.Text != "" {
			items = append(items, textBlock(it.Text, nil))
		}
		if len(it.Fields) > 0 {
			items = append(items, factSet(it.Fields))
		}
		if len(it.Buttons) > 0 {
			items = append(items, map[string]any{"type": "ActionSet", "actions": actions(it.Buttons)})
		}
		body = append(body, map[string]any{"type": "Container", "separator": true, "spacing": "Medium", "items": items})
	}
	if m.Footer != "" {
		body = append(body, textBlock(m.Footer, map[string]any{"isSubtle": true, "size": "Small"}))
	}
	if len(body) == 0 {
		body = append(body, textBlock("Done.", nil))
	}
	return newCard(body, actions(m.Buttons), fallback(m))
}

// fallback is the notification preview: the title or the first line.
func fallback(m handlers.Message) string {
	s := m.Title
	if s == "" {
		s, _, _ = strings.Cut(strings.TrimSpace(m.Text), "\n")
	}
	if len(s) > 120 {
		s = s[:117] + "..."
	}
	return s
}

// RenderConfirm is the confirmation step of a button: its words, then
// Confirm (which runs the command) and Cancel.
func RenderConfirm(command string, c *handlers.Confirm) Card {
	title, text, yes, no := "Are you sure?", "", "Confirm", "Cancel"
	if c != nil {
		title = orDefault(c.Title, title)
		text, yes, no = c.Text, orDefault(c.Yes, yes), orDefault(c.No, no)
	}
	body := []any{textBlock(title, map[string]any{"weight": "Bolder", "size": "Medium"})}
	if text != "" {
		body = append(body, textBlock(text, nil))
	}
	acts := []any{
		map[string]any{"type": "Action.Execute", "title": yes, "verb": "usher", "style": "positive", "data": map[string]any{"usher": command}},
		map[string]any{"type": "Action.Execute", "title": no, "verb": "usher", "data": map[string]any{"usher": command, "cancel": true}},
	}
	return newCard(body, acts, title)
}

// RenderCancelled replaces a confirmation card whose Cancel was clicked.
func RenderCancelled() Card {
	return newCard([]any{textBlock("Cancelled; nothing changed.", nil)}, nil, "Cancelled")
}

func orDefault(v, d string) string {
	if v == "" {
		return d
	}
	return v
}
