package slack

import (
	"context"
	"fmt"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/socketmode"
)

// RunSocketMode connects to Slack over Socket Mode (SLACK_APP_TOKEN) and
// answers slash commands and interactions there until ctx ends: the same
// answers as over HTTP, sent as the envelope's ack.
func (a *App) RunSocketMode(ctx context.Context) error {
	if a.cfg.AppToken == "" {
		return fmt.Errorf("slack socket mode: no app token")
	}
	client := socketmode.New(a.apis.def.Client)
	errc := make(chan error, 1)
	go func() { errc <- client.RunContext(ctx) }()
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-errc:
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("slack socket mode: %w", err)
		case evt, ok := <-client.Events:
			if !ok {
				return nil
			}
			go a.socketEvent(ctx, client, evt)
		}
	}
}

func (a *App) socketEvent(ctx context.Context, client *socketmode.Client, evt socketmode.Event) {
	if evt.Request != nil && evt.Request.EnvelopeID != "" && evt.Type != socketmode.EventTypeHello &&
		!a.firstUse(ctx, "envelope", evt.Request.EnvelopeID) {
		// Slack sends an envelope again (retry_attempt) when it saw no ack in
		// time, possibly to another replica's connection: the first delivery
		// was acted on, so this one is only acknowledged.
		a.log.Info("slack: socket mode envelope already received, acknowledged", "type", string(evt.Type),
			"retry_attempt", evt.Request.RetryAttempt, "retry_reason", evt.Request.RetryReason)
		a.ack(client, evt, nil)
		return
	}
	switch evt.Type {
	case socketmode.EventTypeConnected:
		a.log.Info("slack: socket mode connected")
	case socketmode.EventTypeInvalidAuth:
		a.log.Error("slack: socket mode: invalid app token")
	case socketmode.EventTypeSlashCommand:
		sc, ok := evt.Data.(slack.SlashCommand)
		if !ok || evt.Request == nil {
			return
		}
		if msg := a.Command(ctx, sc); msg != nil {
			a.ack(client, evt, msg)
		} else {
			a.ack(client, evt, nil)
		}
	case socketmode.EventTypeInteractive:
		ic, ok := evt.Data.(slack.InteractionCallback)
		if !ok || evt.Request == nil {
			return
		}
		resp := a.Interaction(ctx, &ic)
		if r, ok := resp.(*slack.ViewSubmissionResponse); ok && r != nil {
			a.ack(client, evt, r)
		} else {
			a.ack(client, evt, nil)
		}
	case socketmode.EventTypeEventsAPI:
		if evt.Request == nil {
			return
		}
		// Acknowledged either way: Socket Mode redelivers an unacknowledged
		// event, and a directory that missed one is put right by its
		// periodic refresh (a look-up that misses asks Slack).
		if err := a.directoryEvent(ctx, evt.Request.Payload); err != nil {
			a.log.ErrorContext(ctx, "slack: event not applied", "err", err)
		}
		a.ack(client, evt, nil)
	}
}

func (a *App) ack(client *socketmode.Client, evt socketmode.Event, payload any) {
	var err error
	if payload == nil {
		err = client.Ack(*evt.Request)
	} else {
		err = client.Ack(*evt.Request, payload)
	}
	if err != nil {
		a.log.Warn("slack: socket mode ack failed", "err", err)
	}
}
