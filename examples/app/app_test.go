package app

import (
	"io"
	"log/slog"
	"net/http"
	"testing"
	"time"
)

// TestServerTimeouts pins the server timeouts of the contract: read-header
// 5 s, read 15 s, write 30 s, idle 60 s.
func TestServerTimeouts(t *testing.T) {
	a := &App{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	srv := a.server(http.NotFoundHandler())
	for _, c := range []struct {
		name      string
		got, want time.Duration
	}{
		{"ReadHeaderTimeout", srv.ReadHeaderTimeout, 5 * time.Second},
		{"ReadTimeout", srv.ReadTimeout, 15 * time.Second},
		{"WriteTimeout", srv.WriteTimeout, 30 * time.Second},
		{"IdleTimeout", srv.IdleTimeout, 60 * time.Second},
	} {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	if srv.Handler == nil {
		t.Error("the server has no handler")
	}
}
