package deliver

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	json "github.com/goccy/go-json"

	"github.com/usher-chat/usher/handlers"
)

// Job is one message for one person, as the outbox holds it.
type Job struct {
	// Key is unique per message: platforms tag posts with it to detect a
	// repeat, and the told mark is keyed by it.
	Key      string
	Delivery handlers.Delivery
	// Origin is who caused it (their notices go back there first).
	Origin Origin
	// Hint is what the origin knows of the recipient on one platform.
	Hint Hint
	// Followup marks the notice to a sender: it has no notice of its own.
	Followup bool
}

// NewJob is the job for a delivery caused by from, with a fresh key.
func NewJob(d handlers.Delivery, from Origin) Job {
	j := Job{Key: newKey(), Delivery: d, Origin: from}
	if from.Platform != "" && from.UserID != "" && strings.EqualFold(d.To, from.Email) {
		// A message for the actor themselves: they are that chat user.
		j.Hint = Hint{Platform: from.Platform, UserID: from.UserID, Workspace: from.Workspace}
	}
	return j
}

func newKey() string {
	var b [12]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// PaceChannel is the job's outbox pacing key: messages to one person are
// paced, whatever platform carries them. A reply shown where the sender
// typed (a Slack response_url) posts to no conversation and is not paced.
func (j Job) PaceChannel() string {
	if j.Hint.ReplyURL != "" || j.Delivery.To == "" {
		return ""
	}
	return "to:" + strings.ToLower(j.Delivery.To)
}

// PayloadVersion is the version of the payload Encode writes. A payload of
// a later version (a newer replica's job, read by an older one during a
// rolling deploy) is refused as permanent rather than half understood.
const PayloadVersion = 1

// payload is a job on the wire. Field names are explicit and never change
// meaning within a version: jobs outlive the process that queued them. It
// is JSON, written and read with goccy/go-json: the standard library's
// decoder took 12% of a delivery's CPU profile reading it (4-5x slower on
// this payload, `go test -bench Job ./bot/deliver`). The payload is usher's
// own, sealed in the outbox; what comes from outside keeps encoding/json.
type payload struct {
	V        int          `json:"v"`
	Key      string       `json:"key"`
	Delivery wireDelivery `json:"delivery"`
	Origin   *wireOrigin  `json:"origin,omitempty"`
	Hint     *wireHint    `json:"hint,omitempty"`
	Followup bool         `json:"followup,omitempty"`
}

type wireDelivery struct {
	To            string            `json:"to"`
	Kind          string            `json:"kind"`
	InvitationID  string            `json:"invitation_id,omitempty"`
	Message       handlers.Message  `json:"message"`
	Sender        string            `json:"sender,omitempty"`
	OnDelivered   *handlers.Message `json:"on_delivered,omitempty"`
	OnUnreachable *handlers.Message `json:"on_unreachable,omitempty"`
	// OnEmailed is new within version 1: an older reader ignores it and
	// tells OnDelivered, as it did.
	OnEmailed *handlers.Message `json:"on_emailed,omitempty"`
	// Progress and ProgressAnchor are new within version 1 too: an older
	// reader delivers such a job as a plain one (its sender then hears of
	// it as before, or not at all when the use case left OnDelivered out).
	Progress       string `json:"progress,omitempty"`
	ProgressAnchor bool   `json:"progress_anchor,omitempty"`
}

type wireOrigin struct {
	Platform  string `json:"platform"`
	Email     string `json:"email,omitempty"`
	UserID    string `json:"user_id,omitempty"`
	ReplyURL  string `json:"reply_url,omitempty"`
	Workspace string `json:"workspace,omitempty"`
}

type wireHint struct {
	Platform  string `json:"platform"`
	UserID    string `json:"user_id,omitempty"`
	ReplyURL  string `json:"reply_url,omitempty"`
	Workspace string `json:"workspace,omitempty"`
}

// Encode is the job's outbox payload.
func (j Job) Encode() ([]byte, error) {
	raw, err := json.Marshal(j.wire())
	if err != nil {
		return nil, fmt.Errorf("encode delivery job: %w", err)
	}
	return raw, nil
}

// wire is the job as its payload holds it.
func (j Job) wire() payload {
	d := j.Delivery
	p := payload{V: PayloadVersion, Key: j.Key, Followup: j.Followup, Delivery: wireDelivery{
		To: d.To, Kind: string(d.Kind), InvitationID: d.InvitationID, Message: d.Message,
		Sender: d.Sender, OnDelivered: d.OnDelivered, OnUnreachable: d.OnUnreachable, OnEmailed: d.OnEmailed,
		Progress: d.Progress, ProgressAnchor: d.ProgressAnchor}}
	if o := j.Origin; o != (Origin{}) {
		p.Origin = &wireOrigin{Platform: o.Platform, Email: o.Email, UserID: o.UserID, ReplyURL: o.ReplyURL, Workspace: o.Workspace}
	}
	if h := j.Hint; h != (Hint{}) {
		p.Hint = &wireHint{Platform: h.Platform, UserID: h.UserID, ReplyURL: h.ReplyURL, Workspace: h.Workspace}
	}
	return p
}

// DecodeJob reads a payload Encode wrote.
func DecodeJob(raw []byte) (Job, error) {
	var p payload
	if err := json.Unmarshal(raw, &p); err != nil {
		return Job{}, fmt.Errorf("bad payload: %w", err)
	}
	switch {
	case p.V == 0:
		return Job{}, errors.New("payload has no version")
	case p.V > PayloadVersion:
		return Job{}, fmt.Errorf("payload version %d is newer than this usher reads (%d)", p.V, PayloadVersion)
	case p.Key == "" || p.Delivery.To == "":
		return Job{}, errors.New("payload has no key or recipient")
	}
	w := p.Delivery
	j := Job{Key: p.Key, Followup: p.Followup, Delivery: handlers.Delivery{
		To: w.To, Kind: handlers.DeliveryKind(w.Kind), InvitationID: w.InvitationID, Message: w.Message,
		Sender: w.Sender, OnDelivered: w.OnDelivered, OnUnreachable: w.OnUnreachable, OnEmailed: w.OnEmailed,
		Progress: w.Progress, ProgressAnchor: w.ProgressAnchor}}
	if o := p.Origin; o != nil {
		j.Origin = Origin{Platform: o.Platform, Email: o.Email, UserID: o.UserID, ReplyURL: o.ReplyURL, Workspace: o.Workspace}
	}
	if h := p.Hint; h != nil {
		j.Hint = Hint{Platform: h.Platform, UserID: h.UserID, ReplyURL: h.ReplyURL, Workspace: h.Workspace}
	}
	return j, nil
}
