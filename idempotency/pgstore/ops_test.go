package pgstore_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/backstop-go/backstop/idempotency"
	"github.com/backstop-go/backstop/idempotency/pgstore"
	"github.com/backstop-go/backstop/internal/clocktest"
	"github.com/backstop-go/backstop/internal/pgtest"
	"github.com/backstop-go/backstop/problem"
)

// TestCleanupFromThreeInstances runs Cleanup from three instances at once
// over expired and live rows, one expired row being revived by an open
// claim: every expired row is deleted exactly once (the counts add up),
// no live row is, and neither is the one being revived.
func TestCleanupFromThreeInstances(t *testing.T) {
	t.Parallel()
	const expired, live = 2500, 500
	url := schemaURL(t)
	clock := clocktest.New()
	setup := newPool(t, url, 2)
	ctx := ctxFor(t)
	if _, err := setup.Exec(ctx, `INSERT INTO backstop_idempotency (scope, id, state, fingerprint, fence, lease_until, expires_at)
SELECT 's' || (i % 7), 'id' || i, 2, 'fp', 1, $1, CASE WHEN i < $2 THEN $1::timestamptz - interval '1 second' ELSE $1::timestamptz + interval '1 hour' END
FROM generate_series(0, $3 - 1) i`, clock.Now(), expired, expired+live); err != nil {
		t.Fatal(err)
	}
	// A claim of an expired row's key, in a transaction still open.
	reviver, err := setup.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = reviver.Rollback(ctx) }()
	var outcome int
	if err := reviver.QueryRow(ctx, `SELECT outcome FROM backstop_idempotency_claim('s0', 'id0', 'fp2', 'tok', 60000000, 60000000, 0, 0, $1, true)`,
		clock.Now()).Scan(&outcome); err != nil || outcome != int(idempotency.Claimed) {
		t.Fatalf("reviving claim: %d, %v", outcome, err)
	}

	var wg sync.WaitGroup
	counts := make([]int64, 3)
	errs := make([]error, 3)
	for i := range counts {
		s := pgstore.New(newPool(t, url, 2), pgstore.Options{Now: clock.Now})
		wg.Add(1)
		go func() {
			defer wg.Done()
			counts[i], errs[i] = s.Cleanup(ctx, 50)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	if err := reviver.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	total := counts[0] + counts[1] + counts[2]
	if total != expired-1 {
		t.Fatalf("the instances deleted %v rows, %d in all; want %d (each expired row once, not the revived one)", counts, total, expired-1)
	}
	var left, alive int
	if err := setup.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE expires_at > $1) FROM backstop_idempotency`, clock.Now()).Scan(&left, &alive); err != nil {
		t.Fatal(err)
	}
	if left != live+1 || alive != live+1 {
		t.Fatalf("%d rows left, %d alive; want the %d live ones and the revived one", left, alive, live)
	}
}

// TestMigrateFromManyInstancesAtOnce applies the schema from eight
// connections at once to an empty schema, then again: all succeed.
func TestMigrateFromManyInstancesAtOnce(t *testing.T) {
	t.Parallel()
	ctx := ctxFor(t)
	cfg, err := pgx.ParseConfig(pgtest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	admin, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	schema := fmt.Sprintf("pgstore_migrate_%d", time.Now().UnixNano())
	if _, err := admin.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	defer func() { _, _ = admin.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE") }()
	pool := newPool(t, withSearchPath(cfg.ConnString(), schema), 8)
	for round := range 2 {
		var wg sync.WaitGroup
		errs := make([]error, 8)
		for i := range errs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = pgstore.Migrate(ctx, pool)
			}()
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
	}
	if err := pgstore.New(pool, pgstore.Options{}).Ping(ctx); err != nil {
		t.Fatalf("Ping after Migrate: %v", err)
	}
}

// TestPingWithoutTableFails checks that Ping reports a database without
// the store's table, so a readiness check catches a missing migration.
func TestPingWithoutTableFails(t *testing.T) {
	t.Parallel()
	pool := newPool(t, pgtest.URL(t), 1) // the public schema: no table
	err := pgstore.New(pool, pgstore.Options{}).Ping(ctxFor(t))
	if !errors.Is(err, idempotency.ErrStoreUnavailable) {
		t.Fatalf("Ping = %v, want an error wrapping ErrStoreUnavailable", err)
	}
}

// hungServer accepts connections and never answers.
func hungServer(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		_ = l.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			_ = c.Close()
		}
	})
	return "postgres://u@" + l.Addr().String() + "/db?sslmode=disable&connect_timeout=60"
}

// TestDatabaseDownFailsClosed checks both modes against a database that
// refuses connections and one that accepts them and never answers: each
// request is answered 503 with Retry-After within the store's timeout
// (or the middleware's, for the transactional BEGIN), and nothing runs.
func TestDatabaseDownFailsClosed(t *testing.T) {
	t.Parallel()
	for name, url := range map[string]string{
		"refused": "postgres://u@127.0.0.1:1/db?sslmode=disable",
		"hung":    hungServer(t),
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			pool := newPool(t, url, 2)
			const bound = 200 * time.Millisecond
			store := pgstore.New(pool, pgstore.Options{Timeout: bound})
			quiet := slog.New(slog.DiscardHandler)
			o := idempotency.Options{Logger: quiet, StoreTimeout: bound}
			runs := 0
			next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { runs++ })
			for mode, h := range map[string]http.Handler{
				"plain": idempotency.New(store, principal, o).Handler(next),
				"tx":    pgstore.NewTxMiddleware(store, pool, pgx.TxOptions{}, principal, o).Handler(next),
			} {
				req := httptest.NewRequest(http.MethodPost, "/orders", nil)
				req.Header.Set(idempotency.HeaderKey, key)
				rec := httptest.NewRecorder()
				start := time.Now()
				h.ServeHTTP(rec, req)
				took := time.Since(start)
				p, err := problem.Parse(rec.Result())
				if rec.Code != http.StatusServiceUnavailable || err != nil || !errors.Is(p, idempotency.ErrUnavailable) || rec.Header().Get("Retry-After") == "" {
					t.Fatalf("%s: %d %s, want 503 ErrUnavailable with Retry-After", mode, rec.Code, rec.Body)
				}
				if took > bound+2*time.Second { // the bound, plus a loaded machine's slack
					t.Errorf("%s: answered after %v, bound %v", mode, took, bound)
				}
			}
			if runs != 0 {
				t.Fatalf("the handler ran %d times without a database", runs)
			}
			if err := store.Ping(ctxFor(t)); !errors.Is(err, idempotency.ErrStoreUnavailable) {
				t.Fatalf("Ping = %v, want ErrStoreUnavailable", err)
			}
		})
	}
}
