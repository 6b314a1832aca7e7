package mail

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/mail"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"

	"github.com/usher-chat/usher/bot/deliver"
	"github.com/usher-chat/usher/bot/outbox"
	"github.com/usher-chat/usher/handlers"
	"github.com/usher-chat/usher/handlers/org"
)

// PlatformName is the delivery platform's name.
const PlatformName = "email"

// Platform is email as a deliver.Platform, for one organization.
type Platform struct {
	cfg Config
	// orgName is the organization's name, for the From display name.
	orgName func(ctx context.Context) (string, error)
	log     *slog.Logger
	now     func() time.Time
}

var _ deliver.Platform = (*Platform)(nil)

// New is the email platform of an organization whose name orgName reads.
func New(cfg Config, orgName func(ctx context.Context) (string, error), log *slog.Logger) (*Platform, error) {
	if cfg.Host == "" || cfg.From == nil {
		return nil, errors.New("mail: a host and a From address are required")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 30 * time.Second
	}
	return &Platform{cfg: cfg, orgName: orgName, log: log, now: time.Now}, nil
}

func (p *Platform) Name() string { return PlatformName }

// Find knows everyone with an address: whether the mailbox exists is only
// learnt when sending (a 550 then makes Post unreachable).
func (p *Platform) Find(_ context.Context, _ org.ID, email string, _ deliver.Hint) (deliver.Recipient, bool, error) {
	a, err := mail.ParseAddress(email)
	if err != nil || a.Name != "" || a.Address != email {
		return deliver.Recipient{}, false, nil
	}
	return deliver.Recipient{Email: a.Address}, true, nil
}

// Post sends m to r. A 5xx answer for the recipient (no such mailbox,
// refused) is ErrUnreachable; a 4xx answer or a broken connection is an
// error for the outbox to retry. A retry carries the same Message-ID.
func (p *Platform) Post(ctx context.Context, r deliver.Recipient, post deliver.Post) (deliver.Posted, error) {
	switch post.Kind {
	case handlers.DeliverPassword:
		return deliver.Posted{}, fmt.Errorf("a temporary password never goes by email: %w", deliver.ErrUnreachable)
	case handlers.DeliverRequest:
		return deliver.Posted{}, fmt.Errorf("an invitation request is answered with chat buttons: %w", deliver.ErrUnreachable)
	}
	msg, err := p.build(ctx, r.Email, post)
	if err != nil {
		return deliver.Posted{}, &outbox.Permanent{Err: err} // retrying cannot fix a bad address
	}
	c, err := p.client()
	if err != nil {
		return deliver.Posted{}, err
	}
	if err := c.DialAndSendWithContext(ctx, msg); err != nil {
		var se *gomail.SendError
		if errors.As(err, &se) && se.ErrorCode() >= 500 && se.ErrorCode() < 600 &&
			(se.Reason == gomail.ErrSMTPRcptTo || se.Reason == gomail.ErrSMTPData || se.Reason == gomail.ErrSMTPDataClose) {
			return deliver.Posted{}, fmt.Errorf("%s refused the message for %s (%d): %v: %w", p.cfg.Host, r.Email, se.ErrorCode(), err, deliver.ErrUnreachable)
		}
		return deliver.Posted{}, fmt.Errorf("send to %s via %s: %w", r.Email, p.cfg.String(), err)
	}
	p.log.InfoContext(ctx, "mail: sent", "kind", string(post.Kind), "server", p.cfg.String())
	return deliver.Posted{Platform: PlatformName, Where: "emailed to " + r.Email, UserID: r.Email, ID: messageID(post.Key, p.cfg.From)}, nil
}

// Update does nothing: a sent email cannot be changed.
func (p *Platform) Update(context.Context, deliver.Posted, handlers.Message) error { return nil }

func (p *Platform) build(ctx context.Context, to string, post deliver.Post) (*gomail.Msg, error) {
	r, err := Render(post.Message)
	if err != nil {
		return nil, err
	}
	m := gomail.NewMsg(gomail.WithNoDefaultUserAgent())
	name := p.cfg.From.Name
	if name == "" {
		name = "usher"
		if p.orgName != nil {
			if n, err := p.orgName(ctx); err == nil && oneLine(n) != "" {
				name = "usher for " + oneLine(n)
			}
		}
	}
	if err := m.FromFormat(name, p.cfg.From.Address); err != nil {
		return nil, fmt.Errorf("from %s: %w", p.cfg.From.Address, err)
	}
	if err := m.To(to); err != nil {
		return nil, fmt.Errorf("to %s: %w", to, err)
	}
	m.Subject(r.Subject)
	m.SetDateWithValue(p.now())
	m.SetMessageIDWithValue(messageID(post.Key, p.cfg.From))
	// RFC 3834: no out-of-office replies to a machine.
	m.SetGenHeader("Auto-Submitted", "auto-generated")
	m.SetBodyString(gomail.TypeTextPlain, r.Text)
	m.AddAlternativeString(gomail.TypeTextHTML, r.HTML)
	return m, nil
}

// messageID is the same for every attempt at one job, so that a mailbox
// can tell a repeat (a retry after a lost answer) from a new message.
func messageID(key string, from *mail.Address) string {
	domain := "usher.invalid"
	if _, d, ok := strings.Cut(from.Address, "@"); ok && d != "" {
		domain = d
	}
	return "usher." + key + "@" + domain
}

func (p *Platform) client() (*gomail.Client, error) {
	opts := []gomail.Option{gomail.WithTimeout(p.cfg.Timeout),
		gomail.WithTLSConfig(&tls.Config{ServerName: p.cfg.Host, RootCAs: p.cfg.RootCAs, MinVersion: tls.VersionTLS12})}
	switch p.cfg.Security {
	case ImplicitTLS:
		opts = append(opts, gomail.WithSSL())
	case StartTLS:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	case Plain:
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	}
	if p.cfg.User != "" {
		opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthAutoDiscover),
			gomail.WithUsername(p.cfg.User), gomail.WithPassword(p.cfg.Password))
	}
	opts = append(opts, gomail.WithPort(p.cfg.Port)) // last: WithSSL picks its own
	c, err := gomail.NewClient(p.cfg.Host, opts...)
	if err != nil {
		return nil, fmt.Errorf("mail client for %s: %w", p.cfg.String(), err)
	}
	return c, nil
}
