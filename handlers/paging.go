package handlers

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/usher-chat/usher/handlers/command"
	"github.com/usher-chat/usher/handlers/org"
)

// Page sizes of the lists. They are chosen so that one page, with its
// header, text, Previous/Next buttons and footer, stays within Block Kit's 50
// blocks (bot/slack/render.go): an invitation or a request is three blocks
// (divider, section, its buttons), a member two (divider, section with
// fields), audit lines are bulleted together in a few sections.
const (
	InvitationsPerPage = 15 // 3 + 15*3 = 48 blocks
	MembersPerPage     = 20 // 3 + 20*2 = 43 blocks
	RequestsPerPage    = 15 // 3 + 15*3 = 48 blocks
	AuditPerPage       = 25 // 3 + 2 sections: 25 lines fit in two 3,000-character sections
)

// pageFlags are the flags every paged list takes.
var pageFlags = []command.FlagSpec{
	{Name: "page", Value: "N", Help: "show page N (from 1)"},
	{Name: "search", Value: "TEXT", Help: "keep rows containing TEXT (any case)"},
}

// pager is one request for a page of a list.
type pager struct {
	page   int    // from 1
	search string // as typed, trimmed; "" keeps everything
	needle string // search in lower case
	size   int
}

// readPager reads --page and --search.
func readPager(c *call, size int) (pager, error) {
	p := pager{page: 1, size: size}
	if c.cmd.Has("page") {
		v := strings.TrimSpace(c.cmd.Flag("page"))
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return pager{}, org.Errorf(org.CodeInvalid, "--page %s is not a page number.", quote(v)).WithHint("Pages count from 1, e.g. --page 2.")
		}
		p.page = n
	}
	if c.cmd.Has("search") {
		p.search = strings.TrimSpace(c.cmd.Flag("search"))
		if p.search == "" {
			return pager{}, org.Errorf(org.CodeInvalid, "--search needs some text to look for.").WithHint("For example: --search acme")
		}
		p.needle = strings.ToLower(p.search)
	}
	return p, nil
}

// match reports whether any of fields contains the search text, ignoring case.
func (p pager) match(fields ...string) bool {
	if p.needle == "" {
		return true
	}
	return slices.ContainsFunc(fields, func(f string) bool { return strings.Contains(strings.ToLower(f), p.needle) })
}

// pages is how many pages n rows make (at least one, the empty one).
func (p pager) pages(n int) int { return max(1, (n+p.size-1)/p.size) }

// window is the [from, to) range of the page's rows among n.
func (p pager) window(n int) (from, to int) {
	from = min((p.page-1)*p.size, n)
	return from, min(from+p.size, n)
}

// past reports whether the page asked for lies beyond the last one.
func (p pager) past(n int) bool { return p.page > p.pages(n) }

// head is what a list's text starts with: "Page 2 of 5 · " on a list of
// several pages, nothing on a single page.
func (p pager) head(n int) string {
	if p.pages(n) == 1 {
		return ""
	}
	return fmt.Sprintf("Page %d of %d · ", p.page, p.pages(n))
}

// matching is the " matching "acme"" a searched list's text carries.
func (p pager) matching() string {
	if p.search == "" {
		return ""
	}
	return fmt.Sprintf(" matching %q", p.search)
}

// command is the command text that shows page n of the same list: the verb,
// its arguments and flags as typed (in a stable order), --page n. A click
// runs it as the clicker, so it is authorized again.
func (p pager) command(c *call, n int) string {
	parts := []string{commandText(c)}
	names := make([]string, 0, len(c.cmd.Flags))
	for name := range c.cmd.Flags {
		if name != "page" && name != "search" {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	for _, name := range names {
		for _, v := range c.cmd.Flags[name] {
			if v == "true" {
				parts = append(parts, "--"+name)
			} else {
				parts = append(parts, "--"+name+" "+quote(v))
			}
		}
	}
	parts = append(parts, "--page "+strconv.Itoa(n))
	if p.search != "" {
		parts = append(parts, "--search "+quote(p.search))
	}
	return strings.Join(parts, " ")
}

// nav is the Previous / Next buttons of page p among n rows.
func (p pager) nav(c *call, n int) []Button {
	var bs []Button
	if p.page > 1 {
		bs = append(bs, Button{Label: "Previous", Command: p.command(c, p.page-1)})
	}
	if p.page < p.pages(n) {
		bs = append(bs, Button{Label: "Next", Command: p.command(c, p.page+1)})
	}
	return bs
}

// pastEnd answers a page beyond the last one, offering the last page.
func (p pager) pastEnd(c *call, title, one, many string, n int) Reply {
	last := p.pages(n)
	text := fmt.Sprintf("There is no page %d: %s%s make %s.", p.page, plural(n, one, many), p.matching(), plural(last, "page", "pages"))
	if n == 1 {
		text = fmt.Sprintf("There is no page %d: 1 %s%s makes 1 page.", p.page, one, p.matching())
	}
	if n == 0 {
		text = fmt.Sprintf("There is no page %d: there are no %s%s.", p.page, many, p.matching())
	}
	label := "Last page"
	if last == 1 {
		label = "First page"
	}
	return Reply{Code: org.CodeNotFound, Message: Message{Title: title, Tone: ToneWarning, Text: text,
		Buttons: []Button{{Label: label, Command: p.command(c, last)}}}}
}

// paged fills r with page p of items (every row that matched), with the
// navigation buttons. It reports false when the page is past the end.
func paged(r *Reply, c *call, p pager, items []Item) bool {
	if p.past(len(items)) {
		return false
	}
	from, to := p.window(len(items))
	r.Items = append(r.Items, items[from:to]...)
	r.Buttons = append(r.Buttons, p.nav(c, len(items))...)
	return true
}
