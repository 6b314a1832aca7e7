package handlers

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/usher-chat/usher/handlers/org"
	"github.com/usher-chat/usher/handlers/secret"
)

// A bulk invitation's progress message (invite_bulk.go): posted to its
// sender once the invitations are committed, then updated in place as they
// settle, at most every few seconds and once more when the last one has.
// It is a message of its own, not the command's answer: on Slack an answer
// through response_url may be sent at most 5 times within 30 minutes of the
// command (docs.slack.dev, "Handling user interaction", slash commands), a
// delivery of 1,000 paced invitations takes longer, and a posted message's
// ts can be edited with chat.update (a Tier 3 method, ~50 a minute per
// workspace: docs.slack.dev, "Rate limits"), hence the throttle.
// The counts live in the store, written in the same step as each delivery's
// record, so the replicas that deliver share them; the delivery router
// (bot/deliver) asks here whether an update is due and what it says, and
// the platform that posted the message edits it.

// ProgressStore keeps the progress records (storage.Store).
type ProgressStore interface {
	AnchorProgress(ctx context.Context, id string, a org.ProgressAnchor) error
	// ClaimProgress leases the next update when one is due.
	ClaimProgress(ctx context.Context, id, token string, every, lease time.Duration) (org.ProgressClaim, error)
	// ProgressShown returns the lease; how soon to update again (0: no need).
	ProgressShown(ctx context.Context, id, token string, settled int, final bool, every time.Duration) (time.Duration, error)
	// ProgressUnreachable reads positions [from, to) of the bulk's list of
	// invitees on no platform; found is false when the record is gone.
	ProgressUnreachable(ctx context.Context, id string, from, to int) (page org.UnreachablePage, found bool, err error)
}

// progressLease bounds one update (a platform call): a replica that dies
// holding it holds up the next update this long at most.
const progressLease = 15 * time.Second

// ProgressUpdate is an update of a progress message that is due: show
// Message where Anchor says, then report it (ProgressShown).
type ProgressUpdate struct {
	ID      string
	Token   string
	Anchor  org.ProgressAnchor
	Message Message
	Settled int
	Final   bool
}

// RecordProgress records where one invitation of a bulk went (as
// RecordDelivery does) and counts it under outcome in its progress record,
// in one atomic step; an invitation is counted once however often this runs
// for it. An invitation no longer pending (accepted in the meantime) is
// counted all the same.
func (s *Service) RecordProgress(ctx context.Context, progress, invitationID, where string, outcome org.ProgressOutcome) error {
	err := s.RecordDeliveries(ctx, []DeliveryRecord{{InvitationID: invitationID, Where: where, Progress: progress, Outcome: outcome}})
	if err != nil {
		return fmt.Errorf("invitation %s: %w", invitationID, err)
	}
	return nil
}

// AnchorProgress remembers where the progress message id was posted.
func (s *Service) AnchorProgress(ctx context.Context, id string, a org.ProgressAnchor) error {
	if s.progress == nil {
		return nil
	}
	return s.progress.AnchorProgress(ctx, id, a)
}

// ClaimProgress asks whether progress message id is due an update, at most
// every every (the final one at once). It returns the update to make, or
// nil and how soon to ask again (0: not before something settles).
func (s *Service) ClaimProgress(ctx context.Context, id string, every time.Duration) (*ProgressUpdate, time.Duration, error) {
	if s.progress == nil {
		return nil, 0, nil
	}
	token, err := secret.NewID(s.rand)
	if err != nil {
		return nil, 0, err
	}
	cl, err := s.progress.ClaimProgress(ctx, id, token, every, progressLease)
	if err != nil || !cl.Due {
		return nil, cl.RetryIn, err
	}
	st := cl.State
	return &ProgressUpdate{ID: id, Token: cl.Token, Anchor: st.Anchor, Message: ProgressMessage(st), Settled: st.Settled(), Final: st.Final()}, 0, nil
}

// ProgressShown reports update u made; it returns how soon to update again
// (0: no need), when more settled while it was being made.
func (s *Service) ProgressShown(ctx context.Context, u *ProgressUpdate, every time.Duration) (time.Duration, error) {
	if s.progress == nil {
		return 0, nil
	}
	return s.progress.ProgressShown(ctx, u.ID, u.Token, u.Settled, u.Final, every)
}

// ProgressMessage is what a progress message says for st: "312 of 1,000
// delivered, 2 not in chat: use Show their links", the button listing those
// not in chat a page at a time with fresh links (unreachable.go).
func ProgressMessage(st org.ProgressState) Message {
	m := Message{Title: "Bulk invitation", Tone: ToneInfo}
	reached := st.Delivered + st.Emailed
	var parts []string
	if st.Final() {
		m.Tone = ToneSuccess
		parts = append(parts, fmt.Sprintf("All %s delivered or reported: %s delivered", plural(st.Total, "invitation", "invitations"), thousands(reached)))
	} else {
		parts = append(parts, fmt.Sprintf("%s of %s delivered", thousands(reached), thousands(st.Total)))
	}
	if st.Emailed > 0 {
		parts[0] += fmt.Sprintf(" (%s by email)", thousands(st.Emailed))
	}
	if st.Unreachable > 0 {
		if st.Final() {
			m.Tone = ToneWarning
		}
		label := "Show their links"
		if st.NoLinks {
			label = "Show who they are" // a non-admin sender: no links (unreachable.go)
		}
		parts = append(parts, fmt.Sprintf("%s not in chat: use %s", thousands(st.Unreachable), label))
		if st.ID != "" {
			m.Buttons = []Button{{Label: label, Command: UnreachableCommand(st.ID)}}
		}
	}
	m.Text = strings.Join(parts, ", ") + "."
	if !st.Final() {
		m.Footer = "Updated as they are delivered."
	}
	return m
}
