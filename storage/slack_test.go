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

func TestSlackState(t *testing.T) {
	ctx := context.Background()
	rdb := redistest.Shared(t).Client(t)
	s, err := storage.NewSlackState(rdb, "slackstate")
	if err != nil {
		t.Fatal(err)
	}
	if _, found, err := s.Get(ctx, "user", "T1:U1"); found || err != nil {
		t.Fatalf("empty get: %v %v", found, err)
	}
	if err := s.Set(ctx, "user", "T1:U1", []byte(`{"email":"a@x.com"}`), time.Hour); err != nil {
		t.Fatal(err)
	}
	v, found, err := s.Get(ctx, "user", "T1:U1")
	if !found || err != nil || string(v) != `{"email":"a@x.com"}` {
		t.Fatalf("get: %q %v %v", v, found, err)
	}
	if ttl := rdb.TTL(ctx, "usher:{slackstate}:slack:user:T1:U1").Val(); ttl <= 0 || ttl > time.Hour {
		t.Fatalf("ttl %v", ttl)
	}
	first, err := s.SetNX(ctx, "click", "h1", time.Minute)
	again, err2 := s.SetNX(ctx, "click", "h1", time.Minute)
	if !first || again || err != nil || err2 != nil {
		t.Fatalf("setnx: %v %v %v %v", first, again, err, err2)
	}
	for want := int64(1); want <= 3; want++ {
		if n, err := s.Incr(ctx, "rurl", "h2", 30*time.Minute); n != want || err != nil {
			t.Fatalf("incr: %d %v", n, err)
		}
	}
	if ttl := rdb.TTL(ctx, "usher:{slackstate}:slack:rurl:h2").Val(); ttl <= 29*time.Minute {
		t.Fatalf("the count's TTL is set by the first use only: %v", ttl)
	}
	if _, _, err := s.Get(ctx, "Bad Kind", "x"); err == nil {
		t.Fatal("a malformed kind was accepted")
	}

	// Redis down: the errors say so, as org.ErrUnavailable.
	down := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: 100 * time.Millisecond})
	defer down.Close()
	ds, _ := storage.NewSlackState(down, "slackstate")
	if _, _, err := ds.Get(ctx, "user", "x"); !errors.Is(err, org.ErrUnavailable) {
		t.Fatalf("get with redis down: %v", err)
	}
}
