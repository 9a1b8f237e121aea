package redistest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Environment variables read by this package.
const (
	// EnvURL names the variable holding a redis:// URL (as accepted by
	// redis.ParseURL) that Client uses instead of starting a server.
	EnvURL = "REDIS_URL"
	// EnvClusterAddrs names the variable holding comma-separated host:port
	// seed addresses of a Redis Cluster that Cluster uses instead of
	// starting one.
	EnvClusterAddrs = "REDIS_CLUSTER_ADDRS"
	// EnvCI names the variable that, when non-empty, turns a missing
	// redis-server binary from a skip into a failure.
	EnvCI = "CI"
)

// pingTimeout bounds the check that an external server (REDIS_URL,
// REDIS_CLUSTER_ADDRS) is reachable.
const pingTimeout = 5 * time.Second

var (
	mainRunning atomic.Bool

	sharedMu   sync.Mutex
	sharedSrvs []*Server // stopped by Main
	sharedDirs []string  // removed by Main

	single struct {
		once sync.Once
		srv  *Server
		err  error
	}
)

// Main runs the tests of m, stops every server started by Client and
// Cluster, and exits with the tests' result. A package whose tests use
// Client or Cluster calls it, or Run, from TestMain:
//
//	func TestMain(m *testing.M) { redistest.Main(m) }
//
// Client and Cluster fail tests of a binary that did not go through Main
// or Run, since nothing would stop the servers they start.
func Main(m *testing.M) {
	os.Exit(Run(m))
}

// Run is Main for a TestMain that has more to do: it runs the tests of m,
// stops the shared servers and returns the exit code of m.Run.
func Run(m *testing.M) int {
	mainRunning.Store(true)
	defer mainRunning.Store(false)
	code := m.Run()
	stopShared()
	return code
}

// RunWith is Run with a setup step that runs before the tests and
// examples, once Client, Cluster and Options may be used: an Example that
// shows a plain redis.NewClient reads the address setup stored in a
// package variable. A setup error fails the binary without running them.
func RunWith(m *testing.M, setup func() error) int {
	mainRunning.Store(true)
	defer mainRunning.Store(false)
	defer stopShared()
	if err := setup(); err != nil {
		fmt.Fprintln(os.Stderr, "redistest: setup:", err)
		return 1
	}
	return m.Run()
}

func stopShared() {
	sharedMu.Lock()
	defer sharedMu.Unlock()
	for _, s := range sharedSrvs {
		s.stop()
	}
	for _, d := range sharedDirs {
		_ = os.RemoveAll(d)
	}
	sharedSrvs, sharedDirs = nil, nil
}

// registerShared hands dir (unless empty) and srvs to Main for removal and
// stopping.
func registerShared(dir string, srvs ...*Server) {
	sharedMu.Lock()
	defer sharedMu.Unlock()
	if dir != "" {
		sharedDirs = append(sharedDirs, dir)
	}
	sharedSrvs = append(sharedSrvs, srvs...)
}

func requireMain(t testing.TB, fn string) {
	t.Helper()
	if !mainRunning.Load() {
		t.Fatalf("redistest: %s needs the package's TestMain to call redistest.Main(m) or Run(m), "+
			"which stops the shared servers when the tests end:\n\n"+
			"\tfunc TestMain(m *testing.M) { redistest.Main(m) }", fn)
	}
}

// requireBinary returns the path of redis-server. When it is not on PATH,
// requireBinary skips t, or fails it when CI is set; hint tells the reader
// how to run the test anyway.
func requireBinary(t testing.TB, hint string) string {
	t.Helper()
	path, err := exec.LookPath("redis-server")
	if err == nil {
		return path
	}
	msg := fmt.Sprintf("redistest: redis-server not found on PATH (%v); "+
		"install Redis 7 or later (Debian: apt-get install redis-server) or %s", err, hint)
	if os.Getenv(EnvCI) != "" {
		t.Fatal(msg + " [failing rather than skipping because " + EnvCI + " is set]")
	}
	t.Skip(msg)
	return ""
}

// Client returns a client of the shared single Redis server, closed when t
// finishes. The server is the one at REDIS_URL when that is set; otherwise
// a redis-server that Client starts on a free loopback port the first time
// it is called in the test binary, without persistence, and that Main stops.
//
// Tests share the server and must keep to their own keys: build them from
// Prefix. Client never flushes the server.
//
// Without REDIS_URL and without a redis-server binary on PATH, Client skips
// t, or fails it when the environment variable CI is set.
func Client(t testing.TB) redis.UniversalClient {
	t.Helper()
	requireMain(t, "Client")
	if raw := os.Getenv(EnvURL); raw == "" {
		requireBinary(t, "set "+EnvURL)
	}
	opt, err := sharedOptions()
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(opt)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// Options returns the connection options of the shared single server that
// Client uses, starting it if need be. It is for Example functions, which
// have no testing.TB: where Client would skip or fail, Options returns an
// error, so the Example fails rather than passing without Redis. The test
// binary's TestMain must call Main or Run, which stops the server.
func Options() (*redis.Options, error) {
	if !mainRunning.Load() {
		return nil, errors.New("redistest: Options needs the package's TestMain to call redistest.Main(m) or Run(m)")
	}
	return sharedOptions()
}

// sharedOptions returns the options of the server at REDIS_URL, checked to
// answer, or of the shared local server, started on first use.
func sharedOptions() (*redis.Options, error) {
	if raw := os.Getenv(EnvURL); raw != "" {
		opt, err := redis.ParseURL(raw)
		if err != nil {
			return nil, fmt.Errorf("redistest: %s=%s: %v", EnvURL, redactURL(raw), err)
		}
		c := redis.NewClient(opt)
		defer c.Close()
		ctx, cancel := context.WithTimeout(context.Background(), pingTimeout)
		defer cancel()
		if err := c.Ping(ctx).Err(); err != nil {
			return nil, fmt.Errorf("redistest: %s=%s: %v", EnvURL, redactURL(raw), err)
		}
		return opt, nil
	}
	single.once.Do(func() {
		bin, err := exec.LookPath("redis-server")
		if err != nil {
			single.err = fmt.Errorf("redistest: redis-server not found on PATH: %w", err)
			return
		}
		dir, err := os.MkdirTemp("", "redistest-*")
		if err != nil {
			single.err = fmt.Errorf("redistest: %w", err)
			return
		}
		s := &Server{bin: bin, dir: dir}
		registerShared(dir, s)
		if single.err = s.start(); single.err == nil {
			single.srv = s
		}
	})
	if single.err != nil {
		return nil, single.err
	}
	if err := single.srv.checkAlive(); err != nil {
		return nil, err
	}
	return &redis.Options{Addr: single.srv.Addr()}, nil
}

// redactURL hides the password of a Redis URL, for error messages.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}

// Prefix returns a key prefix unique to t: its sanitised name, a random
// part and a trailing colon, as in "TestStore_expiry:9f86d081884c:". It
// contains no '{' or '}', so callers can append a hash tag
// (Prefix(t)+"{user42}:tokens") and choose the cluster slot themselves.
// Each call returns a new prefix.
func Prefix(t testing.TB) string {
	const maxName = 48
	var b strings.Builder
	for _, r := range t.Name() {
		if b.Len() >= maxName {
			break
		}
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '.':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	var random [6]byte
	_, _ = rand.Read(random[:]) // never fails (crypto/rand since Go 1.24)
	b.WriteByte(':')
	b.WriteString(hex.EncodeToString(random[:]))
	b.WriteByte(':')
	return b.String()
}
