package app

import (
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/backstop-go/backstop/internal/logtest"
)

// go-redis writes its own complaints (failed dials) through its package
// logger; the service routes them to slog so every line is JSON.
func TestRedisClientLogsThroughSlog(t *testing.T) {
	// A port nothing listens on: every dial is refused.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()

	var out logtest.Buffer
	logger := slog.New(slog.NewJSONHandler(&out, nil))
	rdb := redisClient(Config{RedisURL: "redis://" + addr}, logger)
	defer rdb.Close()
	// go-redis logs once its pool has failed to dial a few times.
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(out.String(), `"msg":"redis: `) && time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		_ = rdb.Ping(ctx).Err()
		cancel()
	}
	if !strings.Contains(out.String(), `"msg":"redis: `) {
		t.Fatalf("no go-redis line reached slog: %q", out.String())
	}
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		if !json.Valid([]byte(line)) {
			t.Errorf("not JSON: %q", line)
		}
	}
}
