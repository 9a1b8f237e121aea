package pgtest

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
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
	// Our server says in its lock file that it listens on its port, and
	// something accepts connections there.
	if !ready(filepath.Join(s.dir, "data"), s.port) {
		t.Fatalf("the server in %s does not say it is ready on port %d", s.dir, s.port)
	}
	c, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)))
	if err != nil {
		t.Fatal(err)
	}
	_ = c.Close()
}
