// Package shell is usher's terminal adapter: it reads lines such as
// "/usher invite bob@example.com" and ":click Accept" and prints every message
// as plain text, prefixed with its recipient. It doubles as the end-to-end
// harness: a scripted session is a readable test of every flow.
package shell

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/kballard/go-shellquote"

	"github.com/usher-chat/usher/bot/deliver"
	"github.com/usher-chat/usher/handlers"
	"github.com/usher-chat/usher/handlers/org"
)

// Service is what the shell needs of usher's use cases.
type Service interface {
	Handle(ctx context.Context, req handlers.Request) handlers.Reply
	Sweep(ctx context.Context) ([]handlers.Delivery, error)
	// What the delivery router needs (deliver.Service): the shell runs
	// the same protocol as every platform.
	RecordDelivery(ctx context.Context, invitationID, where string) error
	PreferredPlatform(ctx context.Context) (string, error)
}

// Clock is the shell's movable clock; the service reads it.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock starts a clock at start.
func NewClock(start time.Time) *Clock { return &Clock{now: start.UTC()} }

// Now is the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// Set moves the clock to t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	c.now = t.UTC()
	c.mu.Unlock()
}

// shown is a message printed to someone, kept so that they can click it.
type shown struct {
	msg handlers.Message
	id  int // its place in the session, for deliver.Posted
}

// Shell is one terminal session.
type Shell struct {
	clock   *Clock
	out     io.Writer
	as      string
	offline map[string]bool
	shown   int // messages shown so far
	// cur is the organization the session is in; sessions holds every one
	// visited (org.go), home is the one it started in.
	cur      *session
	sessions map[org.ID]*session
	order    []*session // sessions in the order visited
	home     org.ID
	orgs     Orgs // nil: the shell serves its one organization only
	// dir is where the files replies carry (exports) are written; "" is
	// the current directory.
	dir string
}

// session is the shell's state in one organization: its service, and each
// person's chat there (a chat workspace is one organization's).
type session struct {
	id     org.ID
	svc    Service
	inbox  map[string][]*shown // per person, oldest first
	dialog *dialog             // a confirm dialog waiting for :confirm or :cancel
	// router delivers messages for people: the one protocol of every
	// platform, here with the terminal as the only platform and no queue.
	router *deliver.Router
}

type dialog struct {
	who    string
	button handlers.Button
	on     *shown
}

// New builds a shell acting first as email.
func New(svc Service, clock *Clock, out io.Writer, as string) *Shell {
	s := &Shell{clock: clock, out: out, as: as, offline: map[string]bool{}, sessions: map[org.ID]*session{}}
	s.cur = s.newSession("", svc)
	return s
}

func (s *Shell) newSession(id org.ID, svc Service) *session {
	se := &session{id: id, svc: svc, inbox: map[string][]*shown{}}
	// New fails only on a missing service or a platform given twice.
	se.router, _ = deliver.New(deliver.Config{Platforms: []deliver.Platform{terminal{s, se}}, Service: svc})
	if u, ok := svc.(interface{ UseReachability(handlers.Reachability) }); ok {
		u.UseReachability(se.router) // :offline people are unreachable before a resend too
	}
	s.sessions[id] = se
	s.order = append(s.order, se)
	return se
}

// Run reads lines until :quit or the end of input. With a prompt it shows one
// before each line (interactive terminals).
func (s *Shell) Run(ctx context.Context, in io.Reader, prompt bool) error {
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for {
		if prompt {
			fmt.Fprintf(s.out, "%s> ", s.who())
		}
		if !sc.Scan() {
			if prompt {
				fmt.Fprintln(s.out)
			}
			return sc.Err()
		}
		line := strings.TrimSpace(sc.Text())
		if !prompt && line != "" && !strings.HasPrefix(line, "#") {
			fmt.Fprintf(s.out, "%s> %s\n", s.who(), line)
		}
		if quit := s.Line(ctx, line); quit {
			return nil
		}
	}
}

// Line runs one line; it reports whether the session should end.
func (s *Shell) Line(ctx context.Context, line string) (quit bool) {
	switch {
	case line == "" || strings.HasPrefix(line, "#"):
	case strings.HasPrefix(line, ":"):
		return s.meta(ctx, line)
	case line == "/usher" || strings.HasPrefix(line, "/usher "):
		s.typed(ctx, strings.TrimSpace(strings.TrimPrefix(line, "/usher")))
	case strings.HasPrefix(line, "/invite ") || line == "/invite":
		s.typed(ctx, "invite"+strings.TrimPrefix(line, "/invite"))
	default:
		fmt.Fprintln(s.out, "  Type /usher COMMAND (e.g. /usher help), or :help for the shell's own commands.")
	}
	return false
}

const metaHelp = `Shell commands:
  /usher COMMAND...   run an usher command as the current person (/invite ... is short for /usher invite ...)
  :as EMAIL           become another person (their chat account has that verified email)
  :click LABEL [N]    press the button LABEL on your newest message that has one (N: the Nth such button)
  :confirm, :cancel   press the confirming or the cancelling button of your newest confirmation
  :advance DURATION   move the clock forward (e.g. 72h, 7d), running each scheduled run (reminders, expiry, digest) on the way
  :offline EMAIL      pretend EMAIL is not in chat (deliveries fall back to the sender); :online EMAIL undoes it
  :org [ID|NAME]      show the organization you are in and the deployment's others; with ID or NAME, switch to it
  :time               show the clock
  :quit               leave`

func (s *Shell) meta(ctx context.Context, line string) bool {
	words, err := shellquote.Split(line)
	if err != nil || len(words) == 0 {
		fmt.Fprintf(s.out, "  Can't read that line: %v\n", err)
		return false
	}
	arg := strings.Join(words[1:], " ")
	switch words[0] {
	case ":quit", ":q", ":exit":
		return true
	case ":help":
		fmt.Fprintln(s.out, indent(metaHelp))
	case ":as":
		email, err := org.NormalizeEmail(arg)
		if err != nil {
			fmt.Fprintf(s.out, "  %s Usage: :as EMAIL\n", err)
			return false
		}
		s.as = email
		for _, se := range s.sessions {
			se.dialog = nil
		}
		fmt.Fprintf(s.out, "  You are now %s.\n", email)
	case ":offline", ":online":
		email, err := org.NormalizeEmail(arg)
		if err != nil {
			fmt.Fprintf(s.out, "  %s Usage: %s EMAIL\n", err, words[0])
			return false
		}
		s.offline[email] = words[0] == ":offline"
		fmt.Fprintf(s.out, "  %s is now %s.\n", email, strings.TrimPrefix(words[0], ":"))
	case ":time":
		fmt.Fprintf(s.out, "  It is %s.\n", s.clock.Now().Format(time.RFC1123))
	case ":advance":
		d, err := org.ParseDuration(arg)
		if err != nil || d <= 0 {
			fmt.Fprintln(s.out, "  Usage: :advance DURATION (e.g. 72h, 7d, 1d12h)")
			return false
		}
		s.advance(ctx, d) // advance.go
	case ":org":
		s.org(ctx, words[1:]) // org.go
	case ":click":
		s.click(ctx, words[1:])
	case ":confirm", ":cancel":
		s.answer(ctx, words[0] == ":confirm")
	default:
		fmt.Fprintf(s.out, "  Unknown shell command %s. Type :help.\n", words[0])
	}
	return false
}

// answer presses Confirm or Cancel on the newest confirmation waiting for
// the current person. There are two kinds: the dialog of a button that
// carries one (:click Revoke in a list), and a risky command's own prompt
// ("Change bob's role...? [Change role] [Cancel]"), which is an ordinary
// message whose buttons are the same command with --confirm and "cancel".
// A dialog is always the newer: any command run since drops it (see run).
func (s *Shell) answer(ctx context.Context, yes bool) {
	if d := s.cur.dialog; d != nil && d.who == s.as {
		s.cur.dialog = nil
		if yes {
			s.run(ctx, d.button.Command, d.on)
		} else {
			fmt.Fprintln(s.out, "  Cancelled.")
		}
		return
	}
	box := s.cur.inbox[s.as]
	for i := len(box) - 1; i >= 0; i-- {
		confirm, cancel, ok := prompt(box[i].msg)
		if !ok {
			continue
		}
		b := cancel
		if yes {
			b = confirm
		}
		s.run(ctx, b.Command, box[i])
		return
	}
	fmt.Fprintln(s.out, "  There is no confirmation waiting.")
}

// prompt finds the buttons of a confirmation prompt: a button running the
// same command with --confirm, and one running "cancel".
func prompt(m handlers.Message) (confirm, cancel handlers.Button, ok bool) {
	var haveConfirm, haveCancel bool
	for _, b := range m.Buttons {
		switch {
		case b.Command == "cancel":
			cancel, haveCancel = b, true
		case strings.HasSuffix(b.Command, " --confirm") && !haveConfirm:
			confirm, haveConfirm = b, true
		}
	}
	return confirm, cancel, haveConfirm && haveCancel
}

// click finds the button on the newest message to the current person that
// has one with that label.
func (s *Shell) click(ctx context.Context, args []string) {
	if len(args) == 0 {
		fmt.Fprintln(s.out, "  Usage: :click LABEL [N]")
		return
	}
	nth := 1
	if len(args) > 1 {
		if n, err := strconv.Atoi(args[len(args)-1]); err == nil && n > 0 {
			nth, args = n, args[:len(args)-1]
		}
	}
	label := strings.Join(args, " ")
	box := s.cur.inbox[s.as]
	for i := len(box) - 1; i >= 0; i-- {
		var matches []handlers.Button
		for _, b := range buttons(box[i].msg) {
			if strings.EqualFold(b.Label, label) {
				matches = append(matches, b)
			}
		}
		if len(matches) == 0 {
			continue
		}
		if nth > len(matches) {
			fmt.Fprintf(s.out, "  Your newest message with [%s] has only %d of them.\n", label, len(matches))
			return
		}
		b := matches[nth-1]
		if b.Confirm != nil {
			s.cur.dialog = &dialog{who: s.as, button: b, on: box[i]}
			fmt.Fprintf(s.out, "  %s\n  %s\n  [:confirm %s] [:cancel %s]\n", b.Confirm.Title, b.Confirm.Text, b.Confirm.Yes, b.Confirm.No)
			return
		}
		s.run(ctx, b.Command, box[i])
		return
	}
	fmt.Fprintf(s.out, "  No message to %s has a [%s] button.\n", s.as, label)
}

func buttons(m handlers.Message) []handlers.Button {
	out := append([]handlers.Button(nil), m.Buttons...)
	for _, it := range m.Items {
		out = append(out, it.Buttons...)
	}
	return out
}

// typed runs a command line typed at the prompt, with the shell's own
// `invite --file PATH` read first.
func (s *Shell) typed(ctx context.Context, text string) {
	text, err := withFile(text)
	if err != nil {
		fmt.Fprintf(s.out, "  %v\n", err)
		return
	}
	s.run(ctx, text, nil)
}

// run executes a command as the current person; from is the message whose
// button was clicked, updated in place when the reply says so.
func (s *Shell) run(ctx context.Context, text string, from *shown) {
	// Whatever runs now answers or abandons a dialog opened before it, so
	// :confirm afterwards means the newest prompt, never a stale dialog.
	if s.cur.dialog != nil && s.cur.dialog.who == s.as {
		s.cur.dialog = nil
	}
	reply := s.cur.svc.Handle(ctx, handlers.Request{
		Actor: org.Identity{Platform: "shell", UserID: s.as, Email: s.as},
		Text:  text,
	})
	if reply.Replace && from != nil {
		from.msg = reply.Message
		s.print(s.as, reply.Message, "(updated in place) ")
	} else {
		s.show(s.cur, s.as, reply.Message)
	}
	s.deliver(ctx, s.cur, reply.Deliveries)
	if reply.File != nil {
		s.save(reply.File)
	}
}

// SaveFilesIn makes the shell write the files replies carry (exports) in
// dir rather than the current directory.
func (s *Shell) SaveFilesIn(dir string) { s.dir = dir }

// save writes a reply's file, private to the operator (0600), never over
// an existing file.
func (s *Shell) save(f *handlers.File) {
	name := filepath.Base(f.Name) // a name, never a path
	where := "the current directory"
	if s.dir != "" {
		where = s.dir
	}
	out, err := os.OpenFile(filepath.Join(s.dir, name), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err == nil {
		_, err = out.Write(f.Data)
		err = errors.Join(err, out.Close())
	}
	if err != nil {
		fmt.Fprintf(s.out, "  Could not save %s in %s: %v\n", name, where, err)
		return
	}
	fmt.Fprintf(s.out, "  Saved %s in %s (%d bytes).\n", name, where, len(f.Data))
}

// deliver hands messages for people to the router, which finds them in the
// terminal (everyone but the :offline) and tells their senders.
func (s *Shell) deliver(ctx context.Context, se *session, ds []handlers.Delivery) {
	if err := se.router.Deliver(ctx, ds, deliver.Origin{Platform: Platform, Email: s.as, UserID: s.as}); err != nil {
		fmt.Fprintf(s.out, "  (could not deliver every message: %v)\n", err)
	}
}

// Platform is the shell's name as a delivery platform.
const Platform = "shell"

// terminal is the shell as a delivery platform (deliver.Platform) of one
// organization: everyone is in the terminal but the people put :offline.
type terminal struct {
	s  *Shell
	se *session
}

func (terminal) Name() string { return Platform }

func (t terminal) Find(_ context.Context, _ org.ID, email string, _ deliver.Hint) (deliver.Recipient, bool, error) {
	return deliver.Recipient{Email: email}, !t.s.offline[email], nil
}

func (t terminal) Post(_ context.Context, r deliver.Recipient, p deliver.Post) (deliver.Posted, error) {
	id := t.s.show(t.se, r.Email, p.Message)
	return deliver.Posted{Platform: Platform, Where: "shell direct message", Channel: r.Email, ID: strconv.Itoa(id)}, nil
}

func (t terminal) Update(_ context.Context, at deliver.Posted, m handlers.Message) error {
	for _, sh := range t.se.inbox[at.Channel] {
		if strconv.Itoa(sh.id) == at.ID {
			sh.msg = m
			t.s.print(at.Channel, m, "(updated in place) ")
			return nil
		}
	}
	t.s.print(at.Channel, m, "")
	return nil
}

// show prints a message and keeps it in the recipient's inbox; it returns
// the message's number in the session.
func (s *Shell) show(se *session, to string, m handlers.Message) int {
	s.shown++
	// Every message is kept, not only those with buttons: a bulk
	// invitation's progress message has none and is updated in place.
	se.inbox[to] = append(se.inbox[to], &shown{msg: m, id: s.shown})
	s.print(to, m, "")
	return s.shown
}

func (s *Shell) print(to string, m handlers.Message, note string) {
	fmt.Fprintf(s.out, "[to %s] %s%s\n", to, note, Render(m))
}

// Render is a message as plain text; the first line follows the recipient.
func Render(m handlers.Message) string {
	var lines []string
	mark := map[handlers.Tone]string{handlers.ToneSuccess: "✓ ", handlers.ToneWarning: "! ", handlers.ToneError: "✗ "}[m.Tone]
	if m.Title != "" {
		lines = append(lines, mark+m.Title)
		mark = ""
	}
	if m.Text != "" {
		for i, l := range strings.Split(m.Text, "\n") {
			if i == 0 {
				l = mark + l
			}
			lines = append(lines, l)
		}
	}
	for _, f := range m.Fields {
		lines = append(lines, fmt.Sprintf("%s: %s", f.Label, f.Value))
	}
	for _, it := range m.Items {
		lines = append(lines, "• "+it.Text)
		for _, f := range it.Fields {
			lines = append(lines, fmt.Sprintf("    %s: %s", f.Label, f.Value))
		}
		if len(it.Buttons) > 0 {
			lines = append(lines, "    "+renderButtons(it.Buttons))
		}
	}
	if len(m.Buttons) > 0 {
		lines = append(lines, renderButtons(m.Buttons))
	}
	if m.Footer != "" {
		lines = append(lines, m.Footer)
	}
	if len(lines) == 0 {
		return "(empty message)"
	}
	return lines[0] + indent(strings.Join(lines[1:], "\n"))
}

func renderButtons(bs []handlers.Button) string {
	parts := make([]string, len(bs))
	for i, b := range bs {
		parts[i] = "[" + b.Label + "]"
	}
	return strings.Join(parts, " ")
}

func indent(s string) string {
	if s == "" {
		return ""
	}
	return "\n  " + strings.ReplaceAll(s, "\n", "\n  ")
}
