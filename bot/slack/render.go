package slack

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/slack-go/slack"

	"github.com/usher-chat/usher/handlers"
)

// Block Kit limits (https://api.slack.com/reference/block-kit/blocks).
const (
	maxBlocks      = 50
	maxSectionText = 3000
	maxFieldText   = 2000
	maxFields      = 10
	maxHeaderText  = 150
	maxButtonText  = 75
	maxButtonValue = 2000
	maxActions     = 25
	maxConfirmText = 300
)

// actionPrefix marks usher's buttons; a click's action_id starts with it.
const actionPrefix = "usher-"

// Render turns a reply's message into Block Kit blocks and the plain-text
// fallback Slack shows in notifications.
func Render(m handlers.Message) (blocks []slack.Block, fallback string) {
	r := renderer{}
	if m.Title != "" {
		r.add(slack.NewHeaderBlock(plain(truncate(m.Title, maxHeaderText))))
	}
	if m.Text != "" || len(m.Fields) > 0 {
		text := ""
		if m.Text != "" {
			text = toneMark(m.Tone) + escape(m.Text)
		}
		r.add(slack.NewSectionBlock(mrkdwnOrNil(text), fields(m.Fields), nil))
		// A section holds at most 10 fields: the rest (the settings list
		// has 12) go in sections of their own rather than disappear.
		for rest := m.Fields; len(rest) > maxFields; {
			rest = rest[maxFields:]
			r.add(slack.NewSectionBlock(nil, fields(rest), nil))
		}
	}
	// A list's own buttons (Previous / Next) go after its rows, where the
	// reader arrives at them, as on Teams; a message without rows keeps them
	// under its text.
	reserve := 3 // "…and N more", the footer, and one spare
	if len(m.Items) == 0 {
		r.buttons(m.Buttons, m.Text)
	} else if len(m.Buttons) > 0 {
		reserve++
	}
	for i := 0; i < len(m.Items); i++ {
		if len(r.blocks) >= maxBlocks-reserve {
			r.add(slack.NewContextBlock("", mrkdwn(fmt.Sprintf("…and %d more not shown.", len(m.Items)-i))))
			break
		}
		it := m.Items[i]
		if len(it.Fields) == 0 && len(it.Buttons) == 0 {
			// A run of plain rows (help, settings) is one bulleted section.
			var lines []string
			size := 0
			for ; i < len(m.Items) && len(m.Items[i].Fields) == 0 && len(m.Items[i].Buttons) == 0; i++ {
				line := "• " + escape(m.Items[i].Text)
				if size+len(line)+1 > maxSectionText && len(lines) > 0 {
					break
				}
				lines, size = append(lines, line), size+len(line)+1
			}
			i--
			r.add(slack.NewSectionBlock(mrkdwnOrNil(strings.Join(lines, "\n")), nil, nil))
			continue
		}
		if len(r.blocks) > 0 {
			r.add(slack.NewDividerBlock())
		}
		r.add(slack.NewSectionBlock(mrkdwnOrNil(escape(it.Text)), fields(it.Fields), nil))
		r.buttons(it.Buttons, it.Text)
	}
	if len(m.Items) > 0 {
		r.buttons(m.Buttons, m.Text)
	}
	if m.Footer != "" && len(r.blocks) < maxBlocks {
		r.add(slack.NewContextBlock("", mrkdwn(truncate(escape(m.Footer), maxSectionText))))
	}
	return r.blocks, Fallback(m)
}

// Fallback is a message's notification text.
func Fallback(m handlers.Message) string {
	parts := []string{}
	if m.Title != "" {
		parts = append(parts, m.Title)
	}
	if m.Text != "" {
		parts = append(parts, m.Text)
	}
	if len(parts) == 0 && len(m.Items) > 0 {
		parts = append(parts, m.Items[0].Text)
	}
	return truncate(escape(strings.Join(parts, ": ")), maxSectionText)
}

type renderer struct {
	blocks  []slack.Block
	actions int
}

func (r *renderer) add(b slack.Block) { r.blocks = append(r.blocks, b) }

// confirmSuffix marks a command that acts without asking again: in Slack
// such a button always opens a confirmation dialog first, worded from the
// button and the question it answers when the reply brings none of its own.
const confirmSuffix = " --confirm"

func (r *renderer) buttons(bs []handlers.Button, question string) {
	if len(bs) == 0 || len(r.blocks) >= maxBlocks {
		return
	}
	var els []slack.BlockElement
	for _, b := range bs {
		if len(els) == maxActions || len(b.Command) > maxButtonValue {
			continue
		}
		r.actions++
		btn := slack.NewButtonBlockElement(fmt.Sprintf("%s%d", actionPrefix, r.actions), b.Command, plain(truncate(b.Label, maxButtonText)))
		switch b.Style {
		case handlers.StylePrimary:
			btn = btn.WithStyle(slack.StylePrimary)
		case handlers.StyleDanger:
			btn = btn.WithStyle(slack.StyleDanger)
		}
		c := b.Confirm
		if c == nil && strings.HasSuffix(b.Command, confirmSuffix) {
			c = &handlers.Confirm{Title: b.Label + "?", Text: orDefault(question, "This can't be undone from here."), Yes: b.Label, No: "Cancel"}
		}
		if c != nil {
			conf := slack.NewConfirmationBlockObject(plain(truncate(c.Title, 100)), plain(truncate(c.Text, maxConfirmText)),
				plain(truncate(orDefault(c.Yes, "Yes"), 30)), plain(truncate(orDefault(c.No, "Cancel"), 30)))
			if b.Style == handlers.StyleDanger {
				conf = conf.WithStyle(slack.StyleDanger)
			}
			btn = btn.WithConfirm(conf)
		}
		els = append(els, btn)
	}
	if len(els) > 0 {
		r.add(slack.NewActionBlock("", els...))
	}
}

func fields(fs []handlers.Field) []*slack.TextBlockObject {
	var out []*slack.TextBlockObject
	for i, f := range fs {
		if i == maxFields {
			break
		}
		out = append(out, mrkdwn(truncate("*"+escape(f.Label)+"*\n"+escape(f.Value), maxFieldText)))
	}
	return out
}

func toneMark(t handlers.Tone) string {
	switch t {
	case handlers.ToneSuccess:
		return ":white_check_mark: "
	case handlers.ToneWarning:
		return ":warning: "
	case handlers.ToneError:
		return ":no_entry: "
	}
	return ""
}

func plain(s string) *slack.TextBlockObject {
	return slack.NewTextBlockObject(slack.PlainTextType, s, false, false)
}

func mrkdwn(s string) *slack.TextBlockObject {
	return slack.NewTextBlockObject(slack.MarkdownType, s, false, false)
}

func mrkdwnOrNil(s string) *slack.TextBlockObject {
	if strings.TrimSpace(s) == "" {
		return nil
	}
	return mrkdwn(truncate(s, maxSectionText))
}

// truncate cuts s to at most n characters, marking the cut.
func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

func orDefault(v, d string) string {
	if v == "" {
		return d
	}
	return v
}

// Ephemeral is the answer to a slash command: visible only to its author.
func Ephemeral(m handlers.Message) *slack.Msg {
	blocks, text := Render(m)
	return &slack.Msg{ResponseType: slack.ResponseTypeEphemeral, Text: text, Blocks: slack.Blocks{BlockSet: blocks}}
}
