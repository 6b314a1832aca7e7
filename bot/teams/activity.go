package teams

import (
	"encoding/json"
	"html"
	"regexp"
	"strings"

	"github.com/infracloudio/msbotbuilder-go/schema"

	"github.com/usher-chat/usher/handlers"
)

// Activity is an incoming Bot Framework activity: msbotbuilder-go's schema
// with the fields it decodes badly shadowed. Its Value is a map, so a string
// value would fail the whole decode; its Entity type drops a mention's text;
// its time fields fail on a malformed timestamp nobody here needs.
type Activity struct {
	schema.Activity
	Value          json.RawMessage  `json:"value,omitempty"`
	Entities       []schema.Mention `json:"entities,omitempty"`
	Timestamp      json.RawMessage  `json:"timestamp,omitempty"`
	LocalTimestamp json.RawMessage  `json:"localTimestamp,omitempty"`
	Expiration     json.RawMessage  `json:"expiration,omitempty"`
	ChannelData    json.RawMessage  `json:"channelData,omitempty"`
}

// ParseActivity decodes a request body. Malformed JSON is an error; unknown
// fields are ignored.
func ParseActivity(body []byte) (*Activity, error) {
	var a Activity
	if err := json.Unmarshal(body, &a); err != nil {
		return nil, err
	}
	return &a, nil
}

type channelData struct {
	Tenant struct {
		ID string `json:"id"`
	} `json:"tenant"`
}

// Tenant is the Entra tenant the activity comes from: the conversation's,
// or Teams' channelData.tenant.id.
func (a *Activity) Tenant() string {
	if a.Conversation.TenantID != "" {
		return a.Conversation.TenantID
	}
	var cd channelData
	if len(a.ChannelData) > 0 && json.Unmarshal(a.ChannelData, &cd) == nil {
		return cd.Tenant.ID
	}
	return ""
}

// Personal reports whether the activity comes from a 1:1 chat with the bot.
func (a *Activity) Personal() bool {
	return a.Conversation.ConversationType == "personal" || (a.Conversation.ConversationType == "" && !a.Conversation.IsGroup)
}

var (
	tagPattern    = regexp.MustCompile(`(?s)<[^>]*>`)
	spacesPattern = regexp.MustCompile(`[ \t]+`)
	// Teams' no-break and zero-width spaces; built once (a Replacer with
	// multi-byte keys is built on first use, at more than it costs to run).
	invisibleSpaces = strings.NewReplacer("\u00a0", " ", "\u200b", "")
)

// CommandText is the text of a message with the bot's @mention removed (the
// mention entities say which text is the bot's), HTML entities and tags
// undone, and a leading "usher" or "/usher" dropped: what is left is the same
// command language as the shell's.
func (a *Activity) CommandText() string {
	text := a.Text
	for _, m := range a.Entities {
		if m.Type != "mention" || m.Text == "" {
			continue
		}
		if m.Mentioned.ID == a.Recipient.ID && a.Recipient.ID != "" {
			text = strings.Replace(text, m.Text, " ", 1)
		}
	}
	// Other people's mentions keep their names; markup goes.
	text = tagPattern.ReplaceAllString(text, "")
	text = html.UnescapeString(text)
	text = invisibleSpaces.Replace(text)
	text = strings.TrimSpace(spacesPattern.ReplaceAllString(text, " "))
	for _, p := range []string{"/usher", "usher", "@usher"} {
		if strings.EqualFold(text, p) {
			return ""
		}
		if len(text) > len(p) && strings.EqualFold(text[:len(p)], p) && (text[len(p)] == ' ' || text[len(p)] == '\n') {
			text = strings.TrimSpace(text[len(p):])
			break
		}
	}
	return strings.TrimPrefix(text, "/")
}

// click is what a card button sends back: the command to run, and for a
// button with a confirmation step the dialog to show first. Nothing else in
// the payload is used: the command runs as whoever clicked.
type click struct {
	Command string `json:"usher"`
	// Confirm is the dialog's words (shown back to the clicker only).
	Confirm *handlers.Confirm `json:"confirm,omitempty"`
	Cancel  bool              `json:"cancel,omitempty"`
}

// Click finds a button's data in the activity's value, in any of the shapes
// Teams uses: a message whose value is the data (Action.Submit), an invoke
// "adaptiveCard/action" whose value.action.data is (Action.Execute), or an
// invoke whose value is the data. ok is false when there is no usher click.
func (a *Activity) Click() (c click, ok bool) {
	if len(a.Value) == 0 {
		return click{}, false
	}
	var shaped struct {
		Action *struct {
			Data json.RawMessage `json:"data"`
		} `json:"action"`
	}
	raw := a.Value
	if json.Unmarshal(a.Value, &shaped) == nil && shaped.Action != nil && len(shaped.Action.Data) > 0 {
		raw = shaped.Action.Data
	}
	var obj map[string]json.RawMessage
	if json.Unmarshal(raw, &obj) != nil {
		return click{}, false
	}
	if _, has := obj["usher"]; !has {
		return click{}, false
	}
	if json.Unmarshal(raw, &c) != nil {
		return click{}, false
	}
	return c, true
}

// Reference is where usher can reach a Teams user: the service URL of their
// region, their tenant, their Teams user id (29:...) and, once known, the id
// of their personal chat with the bot.
type Reference struct {
	ServiceURL string `json:"serviceUrl"`
	Tenant     string `json:"tenant"`
	UserID     string `json:"userId"`
	AADObject  string `json:"aadObjectId"`
	BotID      string `json:"botId"`
	BotName    string `json:"botName,omitempty"`
	ChannelID  string `json:"channelId"`
	// Personal is the 1:1 conversation with the bot, "" until usher knows it.
	Personal string `json:"personal,omitempty"`
}
