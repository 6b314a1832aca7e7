package storage

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/usher-chat/usher/handlers/org"
)

// DeliveryMarks remember which deliveries are settled (bot/deliver.Marks):
// their invitation recorded and their sender told, so that a job retried
// after that step, or taken over from a crashed worker, does not tell the
// sender twice. Under usher:{org}:deliver:told:KEY, with a TTL.
type DeliveryMarks struct {
	rdb  redis.UniversalClient
	keys keys
}

// NewDeliveryMarks returns the delivery marks of organization id.
func NewDeliveryMarks(rdb redis.UniversalClient, id org.ID) (*DeliveryMarks, error) {
	k, err := newKeys(id)
	if err != nil {
		return nil, err
	}
	return &DeliveryMarks{rdb: rdb, keys: k}, nil
}

// Org is the organization whose delivery marks these are.
func (m *DeliveryMarks) Org() org.ID { return m.keys.org }

func (k keys) deliveryTold(id string) string { return k.prefix + "deliver:told:" + id }

func checkMarkID(id string) error {
	if id == "" || len(id) > 200 {
		return fmt.Errorf("delivery mark: bad id %q", id)
	}
	return nil
}

// Marked reports whether id was marked (and has not expired).
func (m *DeliveryMarks) Marked(ctx context.Context, id string) (bool, error) {
	if err := checkMarkID(id); err != nil {
		return false, err
	}
	err := m.rdb.Get(ctx, m.keys.deliveryTold(id)).Err()
	if errors.Is(err, redis.Nil) {
		return false, nil
	}
	if err != nil {
		return false, wrap("delivery mark get", err)
	}
	return true, nil
}

// Mark marks id for ttl.
func (m *DeliveryMarks) Mark(ctx context.Context, id string, ttl time.Duration) error {
	if err := checkMarkID(id); err != nil {
		return err
	}
	return wrap("delivery mark set", m.rdb.Set(ctx, m.keys.deliveryTold(id), "1", ttl).Err())
}

// MarkMany marks every id for ttl, in one round trip.
func (m *DeliveryMarks) MarkMany(ctx context.Context, ids []string, ttl time.Duration) error {
	for _, id := range ids {
		if err := checkMarkID(id); err != nil {
			return err
		}
	}
	_, err := m.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, id := range ids {
			p.Set(ctx, m.keys.deliveryTold(id), "1", ttl)
		}
		return nil
	})
	return wrap("delivery marks set", err)
}
