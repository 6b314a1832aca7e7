package teams

import (
	"regexp"
	"slices"
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

// Every string in a card is plain text: usher's messages carry notes, names
// and workspace names that people typed, and Teams renders the text of a
// TextBlock, and a Fact's title and value, as markdown (bold, italic, lists,
// and [links](url) whose words hide where they go). Backslash escapes are not
// a fix: Teams clients disagree on them (desktop honours them, mobile showed
// the backslashes; the renderers' emphasis parsing ignores them). So usher
// never uses TextBlock or FactSet: it writes RichTextBlocks, whose TextRuns
// are never read as markdown, and styles them with TextRun properties. A URL
// in the text becomes a run of its own that opens it, so links still work and
// what a link says is always where it goes.

// runs is a line of text as TextRuns, each with the style properties st; a
// URL is its own run that opens it.
func runs(line string, st map[string]any) []any {
	var out []any
	add := func(text string, url string) {
		if text == "" {
			return
		}
		r := map[string]any{"type": "TextRun", "text": text}
		for k, v := range st {
			r[k] = v
		}
		if url != "" {
			r["selectAction"] = map[string]any{"type": "Action.OpenUrl", "url": url}
		}
		out = append(out, r)
	}
	for line != "" {
		loc := urlPattern.FindStringIndex(line)
		if loc == nil {
			break
		}
		url := strings.TrimRight(line[loc[0]:loc[1]], ".,;:!?)]}'\"")
		add(line[:loc[0]], "")
		add(url, url)
		line = line[loc[0]+len(url):]
	}
	add(line, "")
	return out
}

// urlPattern finds the web addresses usher puts in messages (invitation
// links); only http and https are made clickable.
var urlPattern = regexp.MustCompile(`https?://[^\s<>"]+`)

// lines splits text into its non-blank lines.
func lines(s string) []string {
	var out []string
	for _, l := range strings.Split(strings.ReplaceAll(s, "\r\n", "\n"), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// richText is text as one RichTextBlock per line, each run styled with st
// (weight, size, color, isSubtle); lead runs, when given, open the first line.
func richText(text string, st map[string]any, lead ...any) []any {
	var out []any
	for i, l := range lines(text) {
		inl := runs(l, st)
		if i == 0 {
			inl = slices.Concat(lead, inl)
		}
		out = append(out, map[string]any{"type": "RichTextBlock", "inlines": inl})
	}
	if len(out) == 0 && len(lead) > 0 {
		out = append(out, map[string]any{"type": "RichTextBlock", "inlines": lead})
	}
	return out
}

// fields are labelled values, one line each: the label in bold, then the
// value; a FactSet would read both as markdown.
func fields(fs []handlers.Field) []any {
	var out []any
	for _, f := range fs {
		label := runs(strings.TrimSpace(f.Label)+": ", map[string]any{"weight": "Bolder"})
		out = append(out, richText(f.Value, nil, label...)...)
	}
	return out
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
	color := func(st map[string]any) map[string]any {
		if c, ok := toneColors[m.Tone]; ok {
			st["color"] = c
		}
		return st
	}
	if m.Title != "" {
		body = append(body, richText(m.Title, color(map[string]any{"weight": "Bolder", "size": "Medium"}))...)
	}
	if m.Text != "" {
		st := map[string]any{}
		if m.Title == "" {
			st = color(st)
		}
		body = append(body, richText(m.Text, st)...)
	}
	body = append(body, fields(m.Fields)...)
	for _, it := range m.Items {
		items := richText(it.Text, nil)
		items = append(items, fields(it.Fields)...)
		if len(it.Buttons) > 0 {
			items = append(items, map[string]any{"type": "ActionSet", "actions": actions(it.Buttons)})
		}
		if items == nil {
			items = []any{}
		}
		body = append(body, map[string]any{"type": "Container", "separator": true, "spacing": "Medium", "items": items})
	}
	if m.Footer != "" {
		body = append(body, richText(m.Footer, map[string]any{"isSubtle": true, "size": "Small"})...)
	}
	if len(body) == 0 {
		body = append(body, richText("Done.", nil)...)
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
	body := richText(title, map[string]any{"weight": "Bolder", "size": "Medium"})
	body = append(body, richText(text, nil)...)
	acts := []any{
		map[string]any{"type": "Action.Execute", "title": yes, "verb": "usher", "style": "positive", "data": map[string]any{"usher": command}},
		map[string]any{"type": "Action.Execute", "title": no, "verb": "usher", "data": map[string]any{"usher": command, "cancel": true}},
	}
	return newCard(body, acts, title)
}

// RenderCancelled replaces a confirmation card whose Cancel was clicked.
func RenderCancelled() Card {
	return newCard(richText("Cancelled; nothing changed.", nil), nil, "Cancelled")
}

func orDefault(v, d string) string {
	if v == "" {
		return d
	}
	return v
}
