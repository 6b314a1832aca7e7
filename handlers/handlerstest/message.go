package handlerstest

import "github.com/usher-chat/usher/handlers"

// InvitationMessage is an invitation's message as an invitee gets it (its
// fields, the Accept and Decline buttons with Decline's confirmation, the
// link in the footer and as the web page), for tests and benchmarks of
// what carries it.
func InvitationMessage() handlers.Message {
	link := "https://usher.test/invitations/eQWasafbkgrfAmhx91DcjzX3Q2p1kD7Wo52C37zTwZg"
	return handlers.Message{Title: "You're invited to your organization", Text: "boss@hq.example invited you to join your organization as member.",
		Fields: []handlers.Field{{Label: "Workspaces", Value: "none"}, {Label: "Expires", Value: "Mon Jan 12 09:00 UTC"}},
		Buttons: []handlers.Button{{Label: "Accept", Command: "accept 9m5s7z2u", Style: "primary"},
			{Label: "Decline", Command: "decline 9m5s7z2u", Style: "danger", Confirm: &handlers.Confirm{Title: "Decline the invitation?",
				Text: "You won't join your organization. boss@hq.example will be told.", Yes: "Decline", No: "Go back"}}},
		Footer: "Or open " + link + " in a browser. The link works once.", Link: &handlers.Link{URL: link, Label: "Accept or decline"}}
}
