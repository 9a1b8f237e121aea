package pgstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/backstop-go/backstop/idempotency"
	"github.com/backstop-go/backstop/internal/pgtest"
)

// TestInFlightClaimFreesItsConnection checks that a transactional claim
// that finds its key in flight ends its transaction at once: a request
// that waits (Options.WaitTimeout) holds no connection between its polls.
func TestInFlightClaimFreesItsConnection(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cfg, err := pgxpool.ParseConfig(pgtest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "pgstore_internal_" + hex.EncodeToString(b[:])
	admin, err := pgx.ConnectConfig(ctx, cfg.ConnConfig.Copy())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(context.Background())
	if _, err := admin.Exec(ctx, "CREATE SCHEMA "+schema+"; SET search_path = "+schema); err != nil {
		t.Fatal(err)
	}
	defer func() { _, _ = admin.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE") }()
	if err := Migrate(ctx, admin); err != nil {
		t.Fatal(err)
	}
	cfg.ConnConfig.RuntimeParams["search_path"] = schema
	cfg.MaxConns = 2
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()

	ts := &txStore{s: New(pool, Options{}), pool: pool, timeout: time.Second, logger: slog.Default(), waits: true}
	req := idempotency.ClaimRequest{
		Key:         idempotency.RecordKey{Scope: "s", ID: "k"},
		Fingerprint: "fp", Lease: time.Minute, Retention: time.Hour,
	}
	first, second := &slot{}, &slot{}
	defer first.end(ctx, time.Second)
	defer second.end(ctx, time.Second)
	if res, err := ts.Claim(context.WithValue(ctx, slotKey{}, first), req); err != nil || res.Outcome != idempotency.Claimed {
		t.Fatalf("first claim: %+v, %v", res, err)
	}
	if res, err := ts.Claim(context.WithValue(ctx, slotKey{}, second), req); err != nil || res.Outcome != idempotency.InFlight {
		t.Fatalf("second claim: %+v, %v; want in flight", res, err)
	}
	if second.tx != nil || pool.Stat().AcquiredConns() != 1 {
		t.Fatalf("after an in-flight claim: its transaction open = %v, %d connections lent; want closed, 1 (the first claim's)",
			second.tx != nil, pool.Stat().AcquiredConns())
	}
}

// TestInFlightClaimEndsAtOnceOnlyWhenTheMiddlewareWaits checks that the
// middleware tells its store whether it waits after an in-flight claim:
// then the claim's transaction ends at once, else while the 409 is sent.
func TestInFlightClaimEndsAtOnceOnlyWhenTheMiddlewareWaits(t *testing.T) {
	store := New(noDB{}, Options{})
	for wait, want := range map[time.Duration]bool{0: false, time.Second: true} {
		m := NewTxMiddleware(store, noBatches{}, pgx.TxOptions{}, func(*http.Request) (string, error) { return "s", nil }, idempotency.Options{WaitTimeout: wait})
		if m.store.waits != want {
			t.Errorf("WaitTimeout %v: waits = %v, want %v", wait, m.store.waits, want)
		}
	}
}

// noDB and noBatches are never called: NewTxMiddleware does no I/O.
type (
	noDB      struct{ DB }
	noBatches struct{ BatchSender }
)
