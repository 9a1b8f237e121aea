//go:build unix

package redistest

import (
	"context"
	"testing"
	"time"
)

func TestPauseHoldsCommandsUntilResume(t *testing.T) {
	srv := NewServer(t)
	c := srv.Client(t)
	ctx := context.Background()
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	resume := srv.Pause(t)
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	if err := c.Ping(short).Err(); err == nil {
		t.Fatal("a paused server answered PING")
	}
	resume()
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatalf("PING after resume: %v", err)
	}
}
