package main

import (
	"context"
	"log/slog"

	"github.com/usher-chat/usher/bot/mail"
	"github.com/usher-chat/usher/handlers"
)

// newMailPlatform is email for the organization of svc; the From display
// name is "usher for NAME", read per message (a rename shows at once).
func newMailPlatform(cfg mail.Config, svc *handlers.Service, log *slog.Logger) (*mail.Platform, error) {
	return mail.New(cfg, func(ctx context.Context) (string, error) {
		set, err := svc.Organization(ctx)
		return set.Name, err
	}, log)
}
