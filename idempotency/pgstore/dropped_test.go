package pgstore_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/backstop-go/backstop/idempotency"
)

// TestTxDroppedClientLeavesNothing drops the client's connection while
// the handler is in a write (blocked on a lock the test holds), after its
// order's insert: the request's context is canceled, its transaction
// cannot commit, and neither the order nor the record remains, whether
// the handler reports the failed write (500) or ignores it (201). The
// retry with the same key then runs once.
func TestTxDroppedClientLeavesNothing(t *testing.T) {
	t.Parallel()
	for _, then := range []string{"block", "block-ignore"} {
		t.Run(then, func(t *testing.T) {
			t.Parallel()
			url := ordersURL(t)
			pool := newPool(t, url, 4)
			var b [6]byte
			_, _ = rand.Read(b[:])
			app := "pgstore-dropped-" + hex.EncodeToString(b[:])
			cfg, err := pgxpool.ParseConfig(url)
			if err != nil {
				t.Fatal(err)
			}
			cfg.MaxConns = 2
			cfg.ConnConfig.RuntimeParams["application_name"] = app
			svcPool, err := pgxpool.NewWithConfig(ctxFor(t), cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer svcPool.Close()
			inserted := make(chan struct{}, 1)
			s := newService(svcPool, pgx.TxOptions{}, func() { inserted <- struct{}{} })
			handled := make(chan struct{})
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				defer close(handled)
				s.handler.ServeHTTP(w, r)
			}))
			defer srv.Close()

			holder, err := pool.Begin(ctxFor(t))
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = holder.Rollback(context.Background()) }()
			if _, err := holder.Exec(ctxFor(t), "LOCK TABLE commit_guard IN ACCESS EXCLUSIVE MODE"); err != nil {
				t.Fatal(err)
			}
			ctx, drop := context.WithCancel(context.Background())
			errc := make(chan error, 1)
			go func() {
				_, _, err := postContext(ctx, t, srv.Client(), srv.URL, key, then)
				errc <- err
			}()
			<-inserted
			waitBlockedOnLock(t, pool, app)
			drop()
			if err := <-errc; err == nil {
				t.Fatal("the dropped request got an answer")
			}
			<-handled
			// The backend notices its client has gone only once the lock
			// lets it go on.
			if err := holder.Rollback(ctxFor(t)); err != nil {
				t.Fatal(err)
			}
			svcPool.Close()
			waitBackendsGone(t, pool, app)
			if o, r := count(t, pool, "orders"), count(t, pool, "backstop_idempotency"); o != 0 || r != 0 {
				t.Fatalf("after the dropped request: %d orders, %d records; want none", o, r)
			}

			retry := httptest.NewServer(newService(pool, pgx.TxOptions{}, nil).handler)
			defer retry.Close()
			resp, body, err := post(t, retry.Client(), retry.URL, key, "")
			if err != nil || resp.StatusCode != http.StatusCreated || resp.Header.Get(idempotency.HeaderReplayed) != "" {
				t.Fatalf("retry: %v %v %s; want a first run", resp, err, body)
			}
			if n := count(t, pool, "orders"); n != 1 {
				t.Fatalf("%d orders after the retry, want 1", n)
			}
		})
	}
}

// waitBlockedOnLock waits until a connection of application app waits
// for a lock.
func waitBlockedOnLock(t *testing.T, pool *pgxpool.Pool, app string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var n int
		if err := pool.QueryRow(ctxFor(t), "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock'", app).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the handler's write never waited for the test's lock")
		}
		time.Sleep(10 * time.Millisecond) // polling a condition, not waiting for time to pass
	}
}
