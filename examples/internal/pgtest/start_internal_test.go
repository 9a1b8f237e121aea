package pgtest

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/jackc/pgx/v5"
)

// TestStartSkipsPortOfAnotherServer gives start the port of a running
// server (the shared one, standing in for the server of another test binary
// that took the port between probing and binding). The new postgres cannot
// bind it; start must not mistake the other server for its own.
func TestStartSkipsPortOfAnotherServer(t *testing.T) {
	if os.Getenv(EnvURL) != "" {
		t.Skip("the shared server is " + EnvURL + ", not one started here")
	}
	URL(t) // starts the shared server, or skips without binaries
	taken := shared.srv.port
	initdb, postgres, err := findBinaries()
	if err != nil {
		t.Fatal(err)
	}
	calls := 0
	pickPort = func() (int, error) {
		if calls++; calls == 1 {
			return taken, nil
		}
		return freePort()
	}
	defer func() { pickPort = freePort }()
	s, err := start(initdb, postgres)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := s.stop(); err != nil {
			t.Error(err)
		}
	}()
	if s.port == taken {
		t.Fatalf("start returned port %d, where another server listens", taken)
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, s.url())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var dir string
	if err := conn.QueryRow(ctx, "SHOW data_directory").Scan(&dir); err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(s.dir, "data"); dir != want {
		t.Fatalf("the server at %s serves %s, want %s", s.url(), dir, want)
	}
}
