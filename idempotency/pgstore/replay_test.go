package pgstore_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/backstop-go/backstop/idempotency"
)

// rollbackGate is a pgx tracer that, once armed, holds every ROLLBACK
// before it is sent until the gate is opened.
type rollbackGate struct {
	mu      sync.Mutex
	armed   bool
	open    chan struct{}
	started chan struct{} // closed when an armed ROLLBACK is held
	once    sync.Once
}

func newRollbackGate() *rollbackGate {
	return &rollbackGate{open: make(chan struct{}), started: make(chan struct{})}
}

func (g *rollbackGate) arm() { g.mu.Lock(); g.armed = true; g.mu.Unlock() }

func (g *rollbackGate) release() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.armed {
		g.armed = false
		close(g.open)
	}
}

func (g *rollbackGate) TraceQueryStart(ctx context.Context, _ *pgx.Conn, data pgx.TraceQueryStartData) context.Context {
	if data.SQL != "rollback" {
		return ctx
	}
	g.mu.Lock()
	armed := g.armed
	g.mu.Unlock()
	if armed {
		g.once.Do(func() { close(g.started) })
		<-g.open
	}
	return ctx
}

func (g *rollbackGate) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

// gatedService starts the service on a pool whose ROLLBACKs gate holds
// once armed. srv is closed when t ends, after the gate and the held
// requests are released.
func gatedService(t *testing.T, onInsert func()) (*service, *httptest.Server, *rollbackGate) {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(ordersURL(t))
	if err != nil {
		t.Fatal(err)
	}
	gate := newRollbackGate()
	cfg.ConnConfig.Tracer = gate
	cfg.MaxConns = 3
	pool, err := pgxpool.NewWithConfig(ctxFor(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	s := newService(pool, pgx.TxOptions{}, onInsert)
	srv := httptest.NewServer(s.handler)
	t.Cleanup(srv.Close)
	t.Cleanup(s.release)
	t.Cleanup(gate.release) // before srv.Close, which waits for the handlers
	return s, srv, gate
}

// answeredBeforeRollback sends POST /orders with key while gate is armed
// and returns the answer, read whole while the request's ROLLBACK is
// held unsent. Without that, the client would wait for the ROLLBACK, which
// never comes: a deadline ends the wait and t fails.
func answeredBeforeRollback(t *testing.T, srv *httptest.Server, gate *rollbackGate, key string) (*http.Response, []byte) {
	t.Helper()
	gate.arm()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, body, err := postContext(ctx, t, srv.Client(), srv.URL, key, "")
	if err != nil {
		gate.release()
		t.Fatalf("%v; the client waited for the ROLLBACK", err)
	}
	<-gate.started // the client has the whole answer; the ROLLBACK is still held
	gate.release()
	return resp, body
}

// TestTxReplayAnsweredBeforeRollback checks that a replay, whose
// transaction holds nothing, reaches the client whole while that
// transaction's ROLLBACK is still held back: the client waits for one
// round trip (BEGIN and the claim), not two.
func TestTxReplayAnsweredBeforeRollback(t *testing.T) {
	t.Parallel()
	_, srv, gate := gatedService(t, nil)
	first, body, err := post(t, srv.Client(), srv.URL, key, "")
	if err != nil || first.StatusCode != http.StatusCreated {
		t.Fatalf("first request: %v %v %s", first, err, body)
	}
	resp, replay := answeredBeforeRollback(t, srv, gate, key)
	if resp.StatusCode != http.StatusCreated || resp.Header.Get(idempotency.HeaderReplayed) != "true" || string(replay) != string(body) {
		t.Fatalf("replay: %v %q, want the replay of %q", resp.Status, replay, body)
	}
	if resp.ContentLength != int64(len(body)) {
		t.Errorf("replay's Content-Length %d, want %d", resp.ContentLength, len(body))
	}
}

// TestTxInFlightAnsweredBeforeRollback checks the same of a 409 in
// flight, when the middleware does not wait (Options.WaitTimeout zero).
func TestTxInFlightAnsweredBeforeRollback(t *testing.T) {
	t.Parallel()
	inserted := make(chan struct{}, 1)
	s, srv, gate := gatedService(t, func() { inserted <- struct{}{} })
	held := holdFirst(t, srv, inserted)
	resp, body := answeredBeforeRollback(t, srv, gate, key)
	s.release()
	if resp.StatusCode != http.StatusConflict {
		t.Fatalf("second request: %v %s, want 409 in flight", resp.Status, body)
	}
	if first := <-held; !strings.HasPrefix(string(first), "{") {
		t.Fatalf("first request: %s", first)
	}
}
