package storage_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/usher-chat/usher/handlers/org"
	"github.com/usher-chat/usher/storage"
	"github.com/usher-chat/usher/storage/redistest"
)

func TestDeliveryMarks(t *testing.T) {
	ctx := context.Background()
	rdb := redistest.Shared(t).Client(t)
	m, err := storage.NewDeliveryMarks(rdb, "delivermarks")
	if err != nil {
		t.Fatal(err)
	}
	if marked, err := m.Marked(ctx, "k1:told"); marked || err != nil {
		t.Fatalf("unmarked: %v %v", marked, err)
	}
	if err := m.Mark(ctx, "k1:told", time.Hour); err != nil {
		t.Fatal(err)
	}
	if marked, err := m.Marked(ctx, "k1:told"); !marked || err != nil {
		t.Fatalf("marked: %v %v", marked, err)
	}
	if ttl := rdb.TTL(ctx, "usher:{delivermarks}:deliver:told:k1:told").Val(); ttl <= 0 || ttl > time.Hour {
		t.Fatalf("ttl %v", ttl)
	}
	if _, err := m.Marked(ctx, ""); err == nil {
		t.Fatal("an empty id was accepted")
	}
	down := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: 100 * time.Millisecond})
	defer down.Close()
	dm, _ := storage.NewDeliveryMarks(down, "delivermarks")
	if _, err := dm.Marked(ctx, "k1"); !errors.Is(err, org.ErrUnavailable) {
		t.Fatalf("marked with redis down: %v", err)
	}
}
