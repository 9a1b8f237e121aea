package health_test

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/backstop-go/backstop/health"
	"github.com/backstop-go/backstop/internal/redistest"
)

// A bare go-redis client as a readiness check, against a real server that
// goes down and comes back.
func TestRedisCheckFollowsServerStopAndRestart(t *testing.T) {
	srv := redistest.NewServer(t)
	rdb := srv.Client(t)
	var changes []health.Change
	reg := newRegistry(t, health.Options{TTL: -1, OnChange: func(c health.Change) { changes = append(changes, c) }})
	reg.Register("redis", func(ctx context.Context) error { return rdb.Ping(ctx).Err() },
		health.CheckOptions{Timeout: 5 * time.Second})
	h := reg.Handler(health.Ready)

	if rec := get(h, "/readyz"); rec.Code != http.StatusOK {
		t.Fatalf("Redis up: code %d: %s", rec.Code, rec.Body)
	}
	srv.Stop(t)
	start := time.Now()
	rec := get(h, "/readyz")
	if rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("Redis down: code %d, want 503", rec.Code)
	}
	rep := reg.Check(t.Context(), health.Ready)
	if err := rep.Checks[0].Err; err == nil || errors.Is(err, health.ErrTimeout) {
		t.Errorf("Redis down: %v, want the refused connection, not a timeout", err)
	}
	if elapsed := time.Since(start); elapsed > 4*time.Second {
		t.Errorf("a stopped Redis took %v to report", elapsed)
	}
	srv.Restart(t)
	if rec := get(h, "/readyz"); rec.Code != http.StatusOK {
		t.Fatalf("Redis back: code %d: %s", rec.Code, rec.Body)
	}
	if len(changes) != 3 || changes[1].To != health.StatusFail || changes[2].To != health.StatusPass {
		t.Errorf("changes %+v, want pass, fail, pass", changes)
	}
}
