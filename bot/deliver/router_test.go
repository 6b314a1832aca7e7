package deliver_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/usher-chat/usher/bot/deliver"
	"github.com/usher-chat/usher/bot/outbox"
	"github.com/usher-chat/usher/handlers"
	"github.com/usher-chat/usher/handlers/org"
)

// The router's own ports, implemented here: a platform that knows some
// people, the service, a queue and marks in memory. They are the router's
// interfaces (it owns them), not stand-ins for an adapter: the adapters are
// tested against their network fakes (bot/slack, bot/teams, cmd/usher).

type platform struct {
	name  string
	knows map[string]bool
	// unreachable: found, but the post says they cannot get it here.
	unreachable map[string]bool
	log         *[]string
	failPosts   int // the next n posts fail (a transient error)
}

func (p *platform) Name() string { return p.name }

func (p *platform) Find(_ context.Context, _ org.ID, email string, hint deliver.Hint) (deliver.Recipient, bool, error) {
	if hint.UserID != "" {
		return deliver.Recipient{Email: email, UserID: hint.UserID, ReplyURL: hint.ReplyURL}, true, nil
	}
	return deliver.Recipient{Email: email, UserID: p.name + ":" + email}, p.knows[email], nil
}

func (p *platform) Post(_ context.Context, r deliver.Recipient, post deliver.Post) (deliver.Posted, error) {
	if p.unreachable[r.Email] {
		return deliver.Posted{}, fmt.Errorf("%s: blocked: %w", p.name, deliver.ErrUnreachable)
	}
	if p.failPosts > 0 {
		p.failPosts--
		return deliver.Posted{}, errors.New("connection reset")
	}
	via := ""
	if r.ReplyURL != "" {
		via = " (reply)"
	}
	*p.log = append(*p.log, fmt.Sprintf("%s -> %s%s: %s", p.name, r.Email, via, post.Message.Text))
	return deliver.Posted{Platform: p.name, Where: p.name + " dm", Channel: r.Email, ID: post.Key}, nil
}

func (p *platform) Update(_ context.Context, at deliver.Posted, m handlers.Message) error {
	*p.log = append(*p.log, fmt.Sprintf("%s update %s: %s", p.name, at.ID, m.Text))
	return nil
}

type service struct {
	preferred string
	recorded  []string
}

func (s *service) RecordDelivery(_ context.Context, id, where string) error {
	s.recorded = append(s.recorded, id+" "+where)
	return nil
}
func (s *service) PreferredPlatform(context.Context) (string, error) { return s.preferred, nil }

type queue struct {
	mu   sync.Mutex
	jobs []outbox.Job
}

func (q *queue) Add(_ context.Context, j outbox.Job) (string, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	j.ID = fmt.Sprint(len(q.jobs))
	q.jobs = append(q.jobs, j)
	return j.ID, nil
}

// take removes and returns the queued jobs.
func (q *queue) take() []outbox.Job {
	q.mu.Lock()
	defer q.mu.Unlock()
	js := q.jobs
	q.jobs = nil
	return js
}

type marks map[string]bool

func (m marks) Marked(_ context.Context, id string) (bool, error) { return m[id], nil }
func (m marks) Mark(_ context.Context, id string, _ time.Duration) error {
	m[id] = true
	return nil
}

const (
	boss = "boss@example.com"
	bob  = "bob@example.com"
)

func invitation() handlers.Delivery {
	return handlers.Delivery{To: bob, Kind: handlers.DeliverInvitation, InvitationID: "inv1", Sender: boss,
		Message:       handlers.Message{Text: "you're invited"},
		OnDelivered:   &handlers.Message{Text: "bob got it"},
		OnUnreachable: &handlers.Message{Text: "forward this link"}}
}

type world struct {
	log    []string
	slack  *platform
	teams  *platform
	svc    *service
	queue  *queue
	router *deliver.Router
}

// newWorld: bob is known where bobIn says; the boss is in both.
func newWorld(t *testing.T, preferred string, bobIn []string, queued bool) *world {
	w := &world{svc: &service{preferred: preferred}}
	w.slack = &platform{name: "slack", knows: map[string]bool{boss: true}, unreachable: map[string]bool{}, log: &w.log}
	w.teams = &platform{name: "teams", knows: map[string]bool{boss: true}, unreachable: map[string]bool{}, log: &w.log}
	for _, p := range bobIn {
		map[string]*platform{"slack": w.slack, "teams": w.teams}[p].knows[bob] = true
	}
	cfg := deliver.Config{Org: "acme", Platforms: []deliver.Platform{w.slack, w.teams}, Service: w.svc}
	if queued {
		w.queue = &queue{}
		cfg.Queue, cfg.Marks = w.queue, marks{}
	}
	r, err := deliver.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	w.router = r
	return w
}

// drain sends every queued job (and what sending queues) until none is left.
func (w *world) drain(t *testing.T) {
	t.Helper()
	for range 10 {
		js := w.queue.take()
		if len(js) == 0 {
			return
		}
		for _, j := range js {
			if err := w.router.Send(context.Background(), j); err != nil {
				t.Fatalf("send %s: %v", j.Payload, err)
			}
		}
	}
	t.Fatal("the queue never drained")
}

// TestRouterPicksThePlatform: preferred platform x where bob is, queued and
// sent at once: the message goes out once, on the preferred platform that
// knows him, else the other; the invitation's delivery is recorded once; the
// sender hears OnDelivered or (bob nowhere) OnUnreachable exactly once, and
// never both.
func TestRouterPicksThePlatform(t *testing.T) {
	tests := []struct {
		preferred string
		bobIn     []string
		want      []string // what was posted, in order
		recorded  string
	}{
		{"slack", []string{"slack"}, []string{"slack -> bob@example.com: you're invited", "slack -> boss@example.com: bob got it"}, "inv1 slack dm"},
		{"slack", []string{"teams"}, []string{"teams -> bob@example.com: you're invited", "slack -> boss@example.com: bob got it"}, "inv1 teams dm"},
		{"slack", []string{"slack", "teams"}, []string{"slack -> bob@example.com: you're invited", "slack -> boss@example.com: bob got it"}, "inv1 slack dm"},
		{"slack", nil, []string{"slack -> boss@example.com: forward this link"}, "inv1 shown to boss@example.com"},
		{"teams", []string{"slack"}, []string{"slack -> bob@example.com: you're invited", "teams -> boss@example.com: bob got it"}, "inv1 slack dm"},
		{"teams", []string{"teams"}, []string{"teams -> bob@example.com: you're invited", "teams -> boss@example.com: bob got it"}, "inv1 teams dm"},
		{"teams", []string{"slack", "teams"}, []string{"teams -> bob@example.com: you're invited", "teams -> boss@example.com: bob got it"}, "inv1 teams dm"},
		{"teams", nil, []string{"teams -> boss@example.com: forward this link"}, "inv1 shown to boss@example.com"},
	}
	for _, tt := range tests {
		for _, queued := range []bool{false, true} {
			t.Run(fmt.Sprintf("preferred=%s/bob-in=%v/queued=%v", tt.preferred, tt.bobIn, queued), func(t *testing.T) {
				w := newWorld(t, tt.preferred, tt.bobIn, queued)
				if err := w.router.Deliver(context.Background(), []handlers.Delivery{invitation()}, deliver.Origin{}); err != nil {
					t.Fatal(err)
				}
				if queued {
					w.drain(t)
				}
				if !slices.Equal(w.log, tt.want) {
					t.Errorf("posted %q\nwant   %q", w.log, tt.want)
				}
				if !slices.Equal(w.svc.recorded, []string{tt.recorded}) {
					t.Errorf("recorded %q, want %q once", w.svc.recorded, tt.recorded)
				}
			})
		}
	}
}

// TestRouterUnreachableAtPost: a platform that found bob but cannot write to
// him (blocked) hands over to the next; when none can, the sender is told.
func TestRouterUnreachableAtPost(t *testing.T) {
	w := newWorld(t, "teams", []string{"slack", "teams"}, true)
	w.teams.unreachable[bob] = true
	w.router.Deliver(context.Background(), []handlers.Delivery{invitation()}, deliver.Origin{})
	w.drain(t)
	want := []string{"slack -> bob@example.com: you're invited", "teams -> boss@example.com: bob got it"}
	if !slices.Equal(w.log, want) {
		t.Errorf("posted %q, want %q", w.log, want)
	}
	w = newWorld(t, "slack", []string{"slack"}, true)
	w.slack.unreachable[bob] = true
	w.router.Deliver(context.Background(), []handlers.Delivery{invitation()}, deliver.Origin{})
	w.drain(t)
	if want := []string{"slack -> boss@example.com: forward this link"}; !slices.Equal(w.log, want) {
		t.Errorf("posted %q, want %q", w.log, want)
	}
}

// TestRouterTellsTheSenderWhereTheyTyped: the notice goes to the sender on
// the platform they typed on (with their reply URL), whatever the
// preference; after a password it goes to their private chat instead.
func TestRouterTellsTheSenderWhereTheyTyped(t *testing.T) {
	from := deliver.Origin{Platform: "teams", Email: boss, UserID: "aad-boss", ReplyURL: "https://reply"}
	w := newWorld(t, "slack", []string{"slack"}, true)
	w.router.Deliver(context.Background(), []handlers.Delivery{invitation()}, from)
	w.drain(t)
	want := []string{"slack -> bob@example.com: you're invited", "teams -> boss@example.com (reply): bob got it"}
	if !slices.Equal(w.log, want) {
		t.Errorf("posted %q, want %q", w.log, want)
	}

	w = newWorld(t, "slack", nil, true)
	pw := handlers.Delivery{To: bob, Kind: handlers.DeliverPassword, Sender: boss, Message: handlers.Message{Text: "password"},
		OnUnreachable: &handlers.Message{Text: "give bob this password"}}
	w.router.Deliver(context.Background(), []handlers.Delivery{pw}, from)
	js := w.queue.take()
	w.router.Send(context.Background(), js[0])
	next := w.queue.take()
	if len(next) != 1 || next[0].Channel == "" {
		t.Fatalf("the notice after a password: %+v, want one paced job", next)
	}
	j, _ := deliver.DecodeJob(next[0].Payload)
	if j.Delivery.Kind != handlers.DeliverPassword || j.Hint.ReplyURL != "" || j.Hint.UserID != "aad-boss" {
		t.Errorf("the notice carrying a password: %+v, want kind password, no reply URL, the sender's Teams id", j)
	}
	w.router.Send(context.Background(), next[0])
	if want := []string{"teams -> boss@example.com: give bob this password"}; !slices.Equal(w.log, want) {
		t.Errorf("posted %q, want %q", w.log, want)
	}
}

// TestRouterRetriesTellOnce: a job that fails after its post, or is taken
// over and run again (attempt 1), never tells the sender a second time; a
// failed post is retried by the outbox and then told once.
func TestRouterRetriesTellOnce(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, "slack", []string{"slack"}, true)
	w.router.Deliver(ctx, []handlers.Delivery{invitation()}, deliver.Origin{})
	j := w.queue.take()[0]
	w.slack.failPosts = 1
	if err := w.router.Send(ctx, j); err == nil || !strings.Contains(err.Error(), "slack: post: connection reset") {
		t.Fatalf("failed post: %v", err)
	}
	if len(w.queue.jobs) != 0 || len(w.svc.recorded) != 0 {
		t.Fatal("a failed post told the sender or recorded the delivery")
	}
	j.Attempt = 1
	for range 3 { // the retry, then two replays of an unacknowledged job
		if err := w.router.Send(ctx, j); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(w.queue.take()); n != 1 {
		t.Errorf("%d notices to the sender queued, want 1", n)
	}
	if want := []string{"slack -> bob@example.com: you're invited"}; !slices.Equal(w.log, want) {
		t.Errorf("posted %q, want %q: a settled job is not posted again", w.log, want)
	}
	if len(w.svc.recorded) != 1 {
		t.Errorf("recorded %q, want once", w.svc.recorded)
	}
}

// TestPayloadVersioned: a job's payload names its fields and version; a
// payload without a version or from a later one is refused (the outbox
// moves it to the dead letters with the reason) rather than misread.
func TestPayloadVersioned(t *testing.T) {
	j := deliver.NewJob(invitation(), deliver.Origin{Platform: "slack", Email: boss, UserID: "UBOSS", ReplyURL: "https://r"})
	raw, err := j.Encode()
	if err != nil {
		t.Fatal(err)
	}
	var fields map[string]any
	json.Unmarshal(raw, &fields)
	d, _ := fields["delivery"].(map[string]any)
	if fields["v"] != float64(1) || fields["key"] != j.Key || d["to"] != bob || d["invitation_id"] != "inv1" ||
		d["message"].(map[string]any)["text"] != "you're invited" || fields["origin"].(map[string]any)["reply_url"] != "https://r" {
		t.Fatalf("payload %s", raw)
	}
	back, err := deliver.DecodeJob(raw)
	if err != nil || back.Key != j.Key || back.Delivery.OnDelivered.Text != "bob got it" || back.Origin != j.Origin {
		t.Fatalf("round trip: %+v %v", back, err)
	}
	for _, bad := range []string{`{"key":"k","delivery":{"to":"a@b.c"}}`, `{"v":2,"key":"k","delivery":{"to":"a@b.c"}}`, `{"v":1}`, `nope`} {
		w := newWorld(t, "slack", nil, true)
		err := w.router.Send(context.Background(), outbox.Job{ID: "1", Platform: deliver.JobPlatform, Payload: []byte(bad)})
		var perm *outbox.Permanent
		if !errors.As(err, &perm) {
			t.Errorf("payload %s: %v, want a permanent failure", bad, err)
		}
	}
}

// TestCommitOutboxEncodes: the encoder a command queues its messages with,
// in its own commit, writes the same jobs Send reads.
func TestCommitOutboxEncodes(t *testing.T) {
	w := newWorld(t, "slack", []string{"teams"}, true)
	msgs, err := w.router.Outbox(deliver.Origin{Platform: "slack", Email: boss, UserID: "UBOSS"}).Encode([]handlers.Delivery{invitation()})
	if err != nil || len(msgs) != 1 || msgs[0].Platform != deliver.JobPlatform || msgs[0].Channel != "to:"+bob {
		t.Fatalf("encoded %+v %v", msgs, err)
	}
	if err := w.router.Send(context.Background(), outbox.Job{ID: "c1", Platform: msgs[0].Platform, Payload: msgs[0].Payload}); err != nil {
		t.Fatal(err)
	}
	w.drain(t)
	want := []string{"teams -> bob@example.com: you're invited", "slack -> boss@example.com: bob got it"}
	if !slices.Equal(w.log, want) {
		t.Errorf("posted %q, want %q", w.log, want)
	}
}

// TestUpdateGoesToThePostingPlatform.
func TestUpdateGoesToThePostingPlatform(t *testing.T) {
	w := newWorld(t, "slack", nil, false)
	if err := w.router.Update(context.Background(), deliver.Posted{Platform: "teams", ID: "m1"}, handlers.Message{Text: "done"}); err != nil {
		t.Fatal(err)
	}
	if want := []string{"teams update m1: done"}; !slices.Equal(w.log, want) {
		t.Errorf("%q", w.log)
	}
	if err := w.router.Update(context.Background(), deliver.Posted{Platform: "irc"}, handlers.Message{}); err == nil {
		t.Error("an update on an unknown platform succeeded")
	}
}

// TestRouterFallback: a fallback platform (email) comes after every chat
// platform, even one named by preferred-platform or the origin; the sender
// hears OnEmailed when it carried the message; a reset link goes over the
// fallbacks only, and without one goes nowhere.
func TestRouterFallback(t *testing.T) {
	newFallback := func(t *testing.T, preferred string, bobIn []string, withMail bool) (*world, *platform) {
		w := newWorld(t, preferred, bobIn, true)
		email := &platform{name: "email", knows: map[string]bool{bob: true, boss: true}, unreachable: map[string]bool{}, log: &w.log}
		cfg := deliver.Config{Org: "acme", Platforms: []deliver.Platform{w.slack, w.teams}, Service: w.svc, Queue: w.queue, Marks: marks{}}
		if withMail {
			cfg.Fallback = []deliver.Platform{email}
		}
		r, err := deliver.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		w.router = r
		return w, email
	}
	emailed := func() handlers.Delivery {
		d := invitation()
		d.OnEmailed = &handlers.Message{Text: "bob was emailed"}
		return d
	}
	for _, tt := range []struct {
		name      string
		preferred string
		bobIn     []string
		d         handlers.Delivery
		want      []string
		recorded  []string
	}{
		{"in slack: chat first", "email", []string{"slack"}, emailed(),
			[]string{"slack -> bob@example.com: you're invited", "slack -> boss@example.com: bob got it"}, []string{"inv1 slack dm"}},
		{"in no chat: emailed", "teams", nil, emailed(),
			[]string{"email -> bob@example.com: you're invited", "teams -> boss@example.com: bob was emailed"}, []string{"inv1 email dm"}},
		{"no OnEmailed: OnDelivered", "slack", nil, invitation(),
			[]string{"email -> bob@example.com: you're invited", "slack -> boss@example.com: bob got it"}, []string{"inv1 email dm"}},
		{"reset link: email even when in chat", "slack", []string{"slack", "teams"},
			handlers.Delivery{To: bob, Kind: handlers.DeliverResetLink, Message: handlers.Message{Text: "reset"}},
			[]string{"email -> bob@example.com: reset"}, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			w, _ := newFallback(t, tt.preferred, tt.bobIn, true)
			if got := w.router.Platforms(); !slices.Equal(got, []string{"slack", "teams", "email"}) {
				t.Fatalf("Platforms() = %q", got)
			}
			if err := w.router.Deliver(context.Background(), []handlers.Delivery{tt.d}, deliver.Origin{}); err != nil {
				t.Fatal(err)
			}
			w.drain(t)
			if !slices.Equal(w.log, tt.want) {
				t.Errorf("posted %q\nwant   %q", w.log, tt.want)
			}
			if !slices.Equal(w.svc.recorded, tt.recorded) {
				t.Errorf("recorded %q, want %q", w.svc.recorded, tt.recorded)
			}
		})
	}
	t.Run("email refuses: the sender is told", func(t *testing.T) {
		w, email := newFallback(t, "slack", nil, true)
		email.unreachable[bob] = true
		w.router.Deliver(context.Background(), []handlers.Delivery{emailed()}, deliver.Origin{})
		w.drain(t)
		if want := []string{"slack -> boss@example.com: forward this link"}; !slices.Equal(w.log, want) {
			t.Errorf("posted %q, want %q", w.log, want)
		}
	})
	t.Run("reset link without email: nothing sent", func(t *testing.T) {
		w, _ := newFallback(t, "slack", []string{"slack"}, false)
		w.router.Deliver(context.Background(), []handlers.Delivery{{To: bob, Kind: handlers.DeliverResetLink, Message: handlers.Message{Text: "reset"}}}, deliver.Origin{})
		w.drain(t)
		if len(w.log) != 0 {
			t.Errorf("posted %q, want nothing", w.log)
		}
	})
	t.Run("reachable: email takes someone in no chat", func(t *testing.T) {
		for _, withMail := range []bool{false, true} {
			w, _ := newFallback(t, "slack", nil, withMail)
			ok, err := w.router.Reachable(context.Background(), bob)
			if err != nil || ok != withMail {
				t.Errorf("with email %v: Reachable = %v, %v; want %v", withMail, ok, err, withMail)
			}
		}
	})
}

// progress records what the router counts into progress records.
type progress struct {
	mu       sync.Mutex
	recorded []string
}

func (p *progress) RecordProgress(_ context.Context, id, inv, where string, outcome org.ProgressOutcome) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.recorded = append(p.recorded, fmt.Sprintf("%s %s %q %s", id, inv, where, outcome))
	return nil
}
func (p *progress) AnchorProgress(context.Context, string, org.ProgressAnchor) error { return nil }
func (p *progress) ClaimProgress(context.Context, string, time.Duration) (*handlers.ProgressUpdate, time.Duration, error) {
	return nil, 0, nil
}
func (p *progress) ProgressShown(context.Context, *handlers.ProgressUpdate, time.Duration) (time.Duration, error) {
	return 0, nil
}

// TestRouterBulkUnreachableTellsNobody: an invitation of a bulk (it names a
// progress record) for someone on no platform is counted as unreachable,
// with no "where" (nobody was shown its link), and its sender is sent
// nothing: the progress message lists them (Show their links). Without a
// progress keeper (an older wiring) the notice goes as before.
func TestRouterBulkUnreachableTellsNobody(t *testing.T) {
	for _, queued := range []bool{false, true} {
		w := &world{svc: &service{preferred: "slack"}}
		w.slack = &platform{name: "slack", knows: map[string]bool{boss: true}, unreachable: map[string]bool{}, log: &w.log}
		p := &progress{}
		cfg := deliver.Config{Org: "acme", Platforms: []deliver.Platform{w.slack}, Service: w.svc, Progress: p}
		if queued {
			w.queue = &queue{}
			cfg.Queue, cfg.Marks = w.queue, marks{}
		}
		r, err := deliver.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		w.router = r
		d := invitation()
		d.Progress, d.OnDelivered = "p1", nil
		if err := w.router.Deliver(context.Background(), []handlers.Delivery{d}, deliver.Origin{}); err != nil {
			t.Fatal(err)
		}
		if queued {
			w.drain(t)
		}
		if len(w.log) != 0 {
			t.Errorf("queued=%v: posted %q, want nothing", queued, w.log)
		}
		if want := []string{`p1 inv1 "" unreachable`}; !slices.Equal(p.recorded, want) || len(w.svc.recorded) != 0 {
			t.Errorf("queued=%v: counted %q (want %q), recorded %q", queued, p.recorded, want, w.svc.recorded)
		}
	}
}
