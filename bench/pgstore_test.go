package bench

// PostgreSQL idempotency benchmarks: one POST /orders whose handler
// inserts an order in a transaction, with no idempotency, with the Redis
// store, with pgstore's plain mode (the handler opens its own
// transaction), and with pgstore's transactional mode (the handler writes
// through the request's transaction), for a first request and a replay.
// Each request carries the 1 KiB body of the other idempotency
// benchmarks. The PostgreSQL round trips of each request are counted on
// the pool's connection and reported as pg-trips/op (the Redis rows add
// the Redis store's own: 2 for a first request, 1 for a replay). The
// benchmarks start their own postgres through internal/pgtest, or use
// DATABASE_URL.
//
//	go test -run '^$' -bench 'PGStore' -benchmem -count 6 .

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/backstop-go/backstop/idempotency"
	"github.com/backstop-go/backstop/idempotency/pgstore"
	"github.com/backstop-go/backstop/internal/pgtest"
)

// pgCountingConn counts the client's flushes, each one a round trip.
type pgCountingConn struct {
	net.Conn
	n *atomic.Int64
}

func (c pgCountingConn) Write(p []byte) (int, error) {
	c.n.Add(1)
	return c.Conn.Write(p)
}

// pgBenchPool returns a one-connection pool on a schema of its own, with
// pgstore's table and an orders table, whose round trips n counts.
func pgBenchPool(b *testing.B, n *atomic.Int64) *pgxpool.Pool {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	url := pgtest.URL(b)
	admin, err := pgx.Connect(ctx, url)
	if err != nil {
		b.Fatal(err)
	}
	defer admin.Close(ctx)
	var r [6]byte
	_, _ = rand.Read(r[:])
	schema := "bench_" + hex.EncodeToString(r[:])
	if _, err := admin.Exec(ctx, "CREATE SCHEMA "+schema+"; SET search_path = "+schema+
		"; CREATE TABLE orders (id bigserial PRIMARY KEY, item text NOT NULL)"); err != nil {
		b.Fatal(err)
	}
	if err := pgstore.Migrate(ctx, admin); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if c, err := pgx.Connect(ctx, url); err == nil {
			_, _ = c.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE")
			_ = c.Close(ctx)
		}
	})
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		b.Fatal(err)
	}
	cfg.MaxConns = 1
	cfg.ConnConfig.RuntimeParams["search_path"] = schema
	var d net.Dialer
	cfg.ConnConfig.DialFunc = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return pgCountingConn{Conn: c, n: n}, nil
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(pool.Close)
	return pool
}

// pgOwnTx is the handler of the modes where it opens its own transaction.
func pgOwnTx(pool *pgxpool.Pool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		tx, err := pool.Begin(r.Context())
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		defer func() { _ = tx.Rollback(r.Context()) }()
		if _, err := tx.Exec(r.Context(), "INSERT INTO orders (item) VALUES ('tea')"); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		if err := tx.Commit(r.Context()); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		pgAnswer(w)
	})
}

// pgInTx is the handler of the transactional mode.
var pgInTx = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	tx, _ := pgstore.FromContext(r.Context())
	if _, err := tx.Exec(r.Context(), "INSERT INTO orders (item) VALUES ('tea')"); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	pgAnswer(w)
})

func pgAnswer(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Location", "/orders/ord_8e03978e40d543e8")
	w.WriteHeader(http.StatusCreated)
	_, _ = w.Write(idemResponse)
}

func BenchmarkPGStore(b *testing.B) {
	// One caller sends every request: the budget is set out of reach so
	// that b.N new keys fit (a budget check counts the caller's records).
	o := idempotency.Options{Retention: time.Minute, MaxRecordsPerScope: -1, MaxBytesPerScope: -1}
	run := func(b *testing.B, fresh bool, build func(pool *pgxpool.Pool) http.Handler) {
		var n atomic.Int64
		pool := pgBenchPool(b, &n)
		h := build(pool)
		before := n.Load()
		idemServe(b, h, fresh, nil)
		b.ReportMetric(float64(n.Load()-before)/float64(b.N), "pg-trips/op")
	}
	none := func(pool *pgxpool.Pool) http.Handler { return pgOwnTx(pool) }
	redis := func(b *testing.B) func(pool *pgxpool.Pool) http.Handler {
		s := idemRedisStore(b, "bench-pg-"+time.Now().Format("150405.000000"))
		return func(pool *pgxpool.Pool) http.Handler { return pgIdem(s, o, pgOwnTx(pool)) }
	}
	plain := func(pool *pgxpool.Pool) http.Handler {
		return pgIdem(pgstore.New(pool, pgstore.Options{Timeout: 5 * time.Second}), o, pgOwnTx(pool))
	}
	tx := func(pool *pgxpool.Pool) http.Handler {
		s := pgstore.New(pool, pgstore.Options{Timeout: 5 * time.Second})
		return pgstore.NewTxMiddleware(s, pool, pgx.TxOptions{}, nil, o).Handler(pgInTx)
	}
	b.Run("none", func(b *testing.B) { run(b, true, none) })
	b.Run("redis/first", func(b *testing.B) { run(b, true, redis(b)) })
	b.Run("redis/replay", func(b *testing.B) { run(b, false, redis(b)) })
	b.Run("plain/first", func(b *testing.B) { run(b, true, plain) })
	b.Run("plain/replay", func(b *testing.B) { run(b, false, plain) })
	b.Run("tx/first", func(b *testing.B) { run(b, true, tx) })
	b.Run("tx/replay", func(b *testing.B) { run(b, false, tx) })
}

func pgIdem(s idempotency.Store, o idempotency.Options, h http.Handler) http.Handler {
	return idempotency.New(s, nil, o).Handler(h)
}
