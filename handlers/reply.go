package handlers

import "github.com/usher-chat/usher/handlers/org"

// The reply model is what every adapter renders: Slack as Block Kit, Teams as
// Adaptive Cards, the shell as text. It says what to show and which buttons to
// offer; a button carries the command text that clicking it runs, so a click
// re-enters Handle as the person who clicked and is authorized afresh.

// Tone tells an adapter how to present a message.
type Tone string

const (
	ToneInfo    Tone = "info"
	ToneSuccess Tone = "success"
	ToneWarning Tone = "warning"
	ToneError   Tone = "error"
)

// Style is a button's emphasis.
type Style string

const (
	StyleDefault Style = ""
	StylePrimary Style = "primary"
	StyleDanger  Style = "danger"
)

// Button runs Command as the person who clicks it.
type Button struct {
	Label   string `json:"label"`
	Command string `json:"command"`
	Style   Style  `json:"style,omitempty"`
	// Confirm, when set, is a dialog the platform shows before running Command.
	Confirm *Confirm `json:"confirm,omitempty"`
}

// Confirm is a "are you sure?" dialog.
type Confirm struct {
	Title string `json:"title"`
	Text  string `json:"text"`
	Yes   string `json:"yes"`
	No    string `json:"no"`
}

// Field is a labelled value.
type Field struct {
	Label string `json:"label"`
	Value string `json:"value"`
}

// Item is one row of a list, with its own buttons (a pending invitation with
// Show link / Resend / Revoke).
type Item struct {
	Text    string   `json:"text"`
	Fields  []Field  `json:"fields,omitempty"`
	Buttons []Button `json:"buttons,omitempty"`
}

// Link is a web address a message leads to. Chat adapters show it in the
// text and the buttons; email, which cannot run commands, makes it the
// message's call to action.
type Link struct {
	URL   string `json:"url"`
	Label string `json:"label"`
}

// Message is something shown to one person.
//
// Messages travel in queued outbox jobs, so the JSON names are explicit;
// they are the Go names in lower case, which is what jobs queued before the
// names were given carry, matched case-insensitively by encoding/json.
type Message struct {
	Title   string   `json:"title,omitempty"`
	Text    string   `json:"text,omitempty"`
	Tone    Tone     `json:"tone,omitempty"`
	Fields  []Field  `json:"fields,omitempty"`
	Items   []Item   `json:"items,omitempty"`
	Buttons []Button `json:"buttons,omitempty"`
	Footer  string   `json:"footer,omitempty"`
	// Link is the web page that does what the buttons do (an invitation's
	// accept page): email shows it instead of the buttons.
	Link *Link `json:"link,omitempty"`
}

// HasButtons reports whether anything in the message can be clicked.
func (m Message) HasButtons() bool {
	if len(m.Buttons) > 0 {
		return true
	}
	for _, it := range m.Items {
		if len(it.Buttons) > 0 {
			return true
		}
	}
	return false
}

// Reply is the answer to one command or click.
type Reply struct {
	Message
	// Replace tells an adapter to update the message whose button was clicked
	// in place (buttons gone, outcome shown) instead of posting a new one.
	Replace bool
	// Code is set when the command was refused; "" when it did what was asked.
	Code org.Code
	// Ref identifies an internal failure in the logs.
	Ref string
	// Deliveries are messages for other people (or the actor, elsewhere).
	Deliveries []Delivery
	// File is a download for the actor alone: only the shell's replies
	// carry one (an export, export.go), which it writes to a file.
	File *File
}

// File is a document for the actor: a CSV export.
type File struct {
	Name string // e.g. "members-acme-20261203-1241.csv"
	Type string // e.g. "text/csv; charset=utf-8"
	Data []byte
}

// DeliveryKind says what a delivery carries, so adapters can pick a channel
// and the storage can record where an invitation went.
type DeliveryKind string

const (
	DeliverInvitation DeliveryKind = "invitation" // a link and Accept/Decline buttons
	DeliverPassword   DeliveryKind = "password"   // a temporary password: private channels only
	DeliverNotice     DeliveryKind = "notice"     // "your role changed", "bob accepted"
	DeliverRequest    DeliveryKind = "request"    // an invitation request for admins to approve
	// DeliverResetLink is a forgot-password link: it proves the person owns
	// the address, so it goes by email only, never to a chat account.
	DeliverResetLink DeliveryKind = "reset-link"
)

// Delivery is a message for a person identified by email. An adapter finds
// them on its platform (Slack users.lookupByEmail, a stored Teams
// conversation) and sends Message privately. Then, if Sender is set, it tells
// the sender OnDelivered or, when the person cannot be reached in chat,
// OnUnreachable (which may carry the link to forward by other means).
type Delivery struct {
	To            string
	Kind          DeliveryKind
	InvitationID  string
	Message       Message
	Sender        string
	OnDelivered   *Message
	OnUnreachable *Message
	// OnEmailed, when set, is told the sender instead of OnDelivered when the
	// message went by email rather than chat.
	OnEmailed *Message
	// Progress names the progress record of the bulk invitation this
	// delivery belongs to (invite_bulk.go): once it settles, it is counted
	// there, and its sender hears it through the progress message.
	Progress string
	// ProgressAnchor marks the progress message itself: where it is posted
	// is remembered, to update it in place.
	ProgressAnchor bool
}
