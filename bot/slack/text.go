package slack

import (
	"strings"
)

// Slack rewrites what people type in a slash command: an email becomes
// <mailto:bob@x.com|bob@x.com>, a link <https://x|x>, a mention <@U123|bob>,
// a channel <#C123|general>, a special mention <!here>; &, < and > arrive
// escaped. Unwrap turns such text back into what the person typed, so the
// command parser sees plain words; mentions are returned for the caller to
// resolve (their user ids, in order of appearance) and left as "<@U123>".

// Unwrap undoes Slack's formatting of command text.
func Unwrap(text string) (plain string, mentions []string) {
	var b strings.Builder
	b.Grow(len(text))
	for {
		open := strings.IndexByte(text, '<')
		if open < 0 {
			break
		}
		end := strings.IndexByte(text[open+1:], '>')
		if end < 0 {
			break
		}
		b.WriteString(unescape(text[:open]))
		inner := text[open+1 : open+1+end]
		text = text[open+1+end+1:]
		target, label, _ := strings.Cut(inner, "|")
		switch {
		case strings.HasPrefix(target, "@"):
			id := target[1:]
			if validID(id) {
				mentions = append(mentions, id)
				b.WriteString("<@" + id + ">")
			} else {
				b.WriteString(unescape(orLabel(label, target)))
			}
		case strings.HasPrefix(target, "#"):
			b.WriteString("#" + unescape(orLabel(label, target[1:])))
		case strings.HasPrefix(target, "!"):
			// <!here>, <!subteam^S123|@team>, <!date^...|fallback>
			if label != "" {
				b.WriteString(unescape(label))
			} else {
				b.WriteString("@" + unescape(strings.SplitN(target[1:], "^", 2)[0]))
			}
		case strings.HasPrefix(target, "mailto:"):
			b.WriteString(unescape(strings.TrimPrefix(target, "mailto:")))
		default:
			// A link: what the person typed is the label when Slack shows one
			// (it rewrote "x.com" as <http://x.com|x.com>), else the URL.
			b.WriteString(unescape(orLabel(label, target)))
		}
	}
	b.WriteString(unescape(text))
	return b.String(), mentions
}

func orLabel(label, target string) string {
	if label != "" {
		return label
	}
	return target
}

// validID reports whether s looks like a Slack user id (U..., W..., B...).
func validID(s string) bool {
	if len(s) < 2 || len(s) > 32 {
		return false
	}
	for _, r := range s {
		if !(r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

var unescaper = strings.NewReplacer("&lt;", "<", "&gt;", ">", "&amp;", "&")

func unescape(s string) string {
	if !strings.Contains(s, "&") {
		return s
	}
	return unescaper.Replace(s)
}

// escaper escapes text for Slack's mrkdwn and plain_text (the three control
// characters), so a user-supplied note cannot forge a mention or a link.
var escaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

func escape(s string) string { return escaper.Replace(s) }
