package redisstore_test

// Regression tests for defects found in review. Each failed before its fix.

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/backstop-go/backstop/idempotency"
	"github.com/backstop-go/backstop/idempotency/redisstore"
	"github.com/backstop-go/backstop/internal/redistest"
)

// replyRewriter replaces the reply of every script with reply.
type replyRewriter struct{ reply []any }

func (h replyRewriter) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h replyRewriter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		if c, ok := cmd.(*redis.Cmd); ok && (cmd.Name() == "evalsha" || cmd.Name() == "eval") {
			c.SetVal(h.reply)
			c.SetErr(nil)
			return nil
		}
		return err
	}
}
func (h replyRewriter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

// A claim reply with a known kind but no value (a misbehaving proxy or
// server) used to index past its end and panic.
func TestClaimShortReply(t *testing.T) {
	for _, kind := range []string{"claimed", "takeover", "inflight"} {
		srv := redistest.NewServer(t)
		c := srv.Client(t)
		s, err := redisstore.New(context.Background(), c, redisstore.Options{})
		if err != nil {
			t.Fatal(err)
		}
		c.AddHook(replyRewriter{reply: []any{kind}})
		func() {
			defer func() {
				if v := recover(); v != nil {
					t.Fatalf("reply [%s]: Claim panicked: %v", kind, v)
				}
			}()
			if _, err := s.Claim(context.Background(), idempotency.ClaimRequest{Key: "k", Fingerprint: "fp", Lease: time.Minute, Retention: time.Hour}); err == nil {
				t.Fatalf("reply [%s]: Claim succeeded", kind)
			}
		}()
	}
}

// The maxmemory-policy check used to ask one shard of a Ring only (a
// keyless command goes to one shard), so an evicting shard went unnoticed.
func TestPolicyCheckRing(t *testing.T) {
	a, b := redistest.NewServer(t), redistest.NewServer(t)
	ctx := context.Background()
	for _, evicting := range []*redistest.Server{a, b} {
		for _, s := range []*redistest.Server{a, b} {
			policy := "noeviction"
			if s == evicting {
				policy = "allkeys-lru"
			}
			if err := s.Client(t).ConfigSet(ctx, "maxmemory-policy", policy).Err(); err != nil {
				t.Fatal(err)
			}
		}
		ring := redis.NewRing(&redis.RingOptions{Addrs: map[string]string{"a": a.Addr(), "b": b.Addr()}})
		_, err := redisstore.New(ctx, ring, redisstore.Options{RefuseEvictingPolicy: true})
		ring.Close()
		if !errors.Is(err, redisstore.ErrEvictionPolicy) {
			t.Fatalf("ring with one evicting shard: New = %v, want ErrEvictionPolicy", err)
		}
	}
}
