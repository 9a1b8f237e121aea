package health_test

import (
	"context"
	"flag"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/backstop-go/backstop/health"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// quiet is a logger that drops everything, for tests that do not look at
// the log.
var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// newRegistry returns a registry that logs nothing, closed when t ends.
func newRegistry(t *testing.T, opts health.Options) *health.Registry {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = quiet
	}
	reg := health.New(opts)
	t.Cleanup(reg.Close)
	return reg
}

// get serves GET target through h and returns the recorder.
func get(h http.Handler, target string, header ...string) *httptest.ResponseRecorder {
	return do(h, http.MethodGet, target, header...)
}

func do(h http.Handler, method, target string, header ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, target, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Add(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// counted wraps fn and counts its calls.
type counted struct {
	calls atomic.Int64
	fn    health.CheckFunc
}

func count(fn health.CheckFunc) *counted { return &counted{fn: fn} }

func (c *counted) check(ctx context.Context) error {
	c.calls.Add(1)
	if c.fn == nil {
		return nil
	}
	return c.fn(ctx)
}

func pass(context.Context) error { return nil }

// gate is a check that blocks until released, ignoring its context.
type gate struct {
	once    sync.Once
	release chan struct{}
	calls   atomic.Int64
}

func newGate() *gate { return &gate{release: make(chan struct{})} }

func (g *gate) check(context.Context) error {
	g.calls.Add(1)
	<-g.release
	return nil
}

func (g *gate) open() { g.once.Do(func() { close(g.release) }) }

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if string(got) != string(want) {
		t.Errorf("%s differs from the golden file:\n--- got ---\n%s\n--- want ---\n%s", name, got, want)
	}
}
