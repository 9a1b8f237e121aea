package pgstore_test

import (
	"context"
	"net/http"
	"net/http/httptest"
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

// TestTxReplayAnsweredBeforeRollback checks that a replay, whose
// transaction holds nothing, reaches the client whole while that
// transaction's ROLLBACK is still held back: the client waits for one
// round trip (BEGIN and the claim), not two.
func TestTxReplayAnsweredBeforeRollback(t *testing.T) {
	t.Parallel()
	cfg, err := pgxpool.ParseConfig(ordersURL(t))
	if err != nil {
		t.Fatal(err)
	}
	gate := newRollbackGate()
	cfg.ConnConfig.Tracer = gate
	cfg.MaxConns = 2
	pool, err := pgxpool.NewWithConfig(ctxFor(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	srv := httptest.NewServer(newService(pool, pgx.TxOptions{}, nil).handler)
	defer srv.Close()
	defer gate.release()

	first, body, err := post(t, srv.Client(), srv.URL, key, "")
	if err != nil || first.StatusCode != http.StatusCreated {
		t.Fatalf("first request: %v %v %s", first, err, body)
	}
	gate.arm()
	// Without the fix, the answer comes only after the ROLLBACK, which
	// never comes: the deadline ends the wait.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, replay, err := postContext(ctx, t, srv.Client(), srv.URL, key, "")
	if err != nil {
		gate.release() // before srv.Close, which waits for the handler
		t.Fatalf("replay: %v; the client waited for the ROLLBACK", err)
	}
	<-gate.started // the client has the whole answer; the ROLLBACK is still held
	gate.release()
	if resp.StatusCode != http.StatusCreated || resp.Header.Get(idempotency.HeaderReplayed) != "true" || string(replay) != string(body) {
		t.Fatalf("replay: %v %q, want the replay of %q", resp.Status, replay, body)
	}
	if resp.ContentLength != int64(len(body)) {
		t.Errorf("replay's Content-Length %d, want %d", resp.ContentLength, len(body))
	}
}
