package handlers

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strings"
	"time"

	"github.com/usher-chat/usher/handlers/org"
	"github.com/usher-chat/usher/handlers/secret"
)

// Deployment is what a Service needs of the deployment around its
// organization, for one person in several organizations (issue 13, item 4):
// the routing tag of its invitation links, the person index, and the other
// organizations' Services. Without one (Config.Deployment nil) a Service
// serves its organization alone, as before: untagged links, no bell across
// organizations.
type Deployment interface {
	// Org is the Service's own organization.
	Org() org.ID
	// LinkTag is the routing tag of the organization's invitation links
	// (LinkTagFor), computed without a round trip.
	LinkTag() string
	// RegisterLinkTag makes ResolveLinkTag find LinkTag. The Service calls it
	// before every commit that stores a new link secret, so that no link
	// exists whose tag routes nowhere; it is idempotent, and may remember
	// that it succeeded.
	RegisterLinkTag(ctx context.Context) error
	// ResolveLinkTag is the organization a link tag belongs to.
	ResolveLinkTag(ctx context.Context, tag string) (org.ID, bool, error)
	// PersonOrgs lists the organizations the person index names for email:
	// a superset of those the person is in.
	PersonOrgs(ctx context.Context, email string) ([]org.ID, error)
	// Peer is organization id's Service, and how to deliver the messages its
	// replies carry through that organization's own chat (the inviter of an
	// invitation in B hears about its answer in B's chat, wherever it was
	// clicked).
	Peer(ctx context.Context, id org.ID) (*Service, func(context.Context, []Delivery) error, error)
	// Login is the person's one web credential (login.go); nil when none.
	Login(ctx context.Context, email string) (*org.Login, error)
	// SetLogin writes the credential if it is still at version (0: none
	// yet), else *org.PreconditionError; endSessions ends every web session
	// of the person in the same step.
	SetLogin(ctx context.Context, l org.Login, version int64, endSessions bool) error
	// IssueReset stores a forgot-password link for email by its secret's
	// hash, for ttl, replacing the person's previous one (forgot.go).
	IssueReset(ctx context.Context, email, hash string, ttl time.Duration) error
	// ResetEmail is the email a live link with hash was issued for, "" when none.
	ResetEmail(ctx context.Context, hash string) (string, error)
	// UseReset uses up the link and sets passwordHash as the person's
	// password, ending every web session of theirs, in one step; false when
	// the link was no longer live (nothing written).
	UseReset(ctx context.Context, hash, email, passwordHash string) (bool, error)
}

// LinkTagFor is organization id's link tag under the deployment's key: 12
// URL-safe characters (72 bits) of an HMAC, so a link names its
// organization without saying which it is, and nobody without the key can
// make the tag of an organization whose id they know.
func LinkTagFor(key []byte, id org.ID) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("usher invitation link tag\x00" + string(id)))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:9])
}

// linkSep separates a link's tag from its secret; base64url has no '.'.
const linkSep = "."

// splitLink reads a link token: "TAG.SECRET", or an untagged SECRET (links
// made before tags, or by a Service without a Deployment). ok is false when
// it has neither shape.
func splitLink(token string) (tag string, tok secret.Token, ok bool) {
	tag, rest, tagged := strings.Cut(token, linkSep)
	if !tagged {
		tag, rest = "", token
	}
	if tagged && (len(tag) != 12 || !validBase64URL(tag)) || !secret.ValidToken(rest) {
		return "", "", false
	}
	return tag, secret.Token(rest), true
}

func validBase64URL(s string) bool {
	_, err := base64.RawURLEncoding.DecodeString(s)
	return err == nil
}

// linkTarget is the Service a link token belongs to, with its bare secret
// and, for another organization's Service, how to deliver its messages. An
// untagged link is this Service's; a tag that is its own (or resolves to
// it: a tag made under an earlier key) too; a tag that resolves to nothing
// is ErrInvalidLink, the page every dead link gets.
func (s *Service) linkTarget(ctx context.Context, token string) (*Service, secret.Token, func(context.Context, []Delivery) error, error) {
	tag, tok, ok := splitLink(token)
	if !ok {
		return nil, "", nil, ErrInvalidLink
	}
	if tag == "" || s.deploy != nil && tag == s.deploy.LinkTag() {
		return s, tok, nil, nil
	}
	if s.deploy == nil {
		return nil, "", nil, ErrInvalidLink
	}
	id, found, err := s.deploy.ResolveLinkTag(ctx, tag)
	if err != nil {
		return nil, "", nil, fmt.Errorf("invitation link: %w", err)
	}
	if !found {
		return nil, "", nil, ErrInvalidLink
	}
	if id == s.deploy.Org() {
		return s, tok, nil, nil
	}
	peer, deliver, err := s.deploy.Peer(ctx, id)
	if err != nil {
		return nil, "", nil, fmt.Errorf("invitation link of %s: %w", id, err)
	}
	return peer, tok, deliver, nil
}

// delivered hands a peer's reply's messages to the peer's own chat, so that
// the caller (another organization's adapter) does not send them through
// its own. A failure is logged: the change itself is committed.
func (s *Service) delivered(ctx context.Context, deliver func(context.Context, []Delivery) error, r Reply) Reply {
	if deliver == nil || len(r.Deliveries) == 0 {
		return r
	}
	if err := deliver(ctx, r.Deliveries); err != nil {
		s.log.ErrorContext(ctx, "delivering another organization's messages failed", "count", len(r.Deliveries), "err", err)
	}
	r.Deliveries = nil
	return r
}

// deploymentStore is a Service's store when it has a Deployment: before each
// commit it registers the link tag (when the commit stores a link secret).
// The person index, which names new members and invitees, is the store's
// own business (storage.Store.IndexPeople): it rides with the commit.
type deploymentStore struct {
	Store
	d Deployment
}

func (ds deploymentStore) Commit(ctx context.Context, ch org.Change) error {
	for _, w := range ch.Invitations {
		if w.NewTokenHash != "" {
			if err := ds.d.RegisterLinkTag(ctx); err != nil {
				return fmt.Errorf("register link tag: %w", err)
			}
			break
		}
	}
	return ds.Store.Commit(ctx, ch)
}

// Deployment is the port the Service was built with (nil when alone).
func (s *Service) Deployment() Deployment { return s.deploy }
