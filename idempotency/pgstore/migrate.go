package pgstore

import (
	"context"
	_ "embed"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// Schema is the SQL that creates the store's table, index and claim
// function (the embedded file schema.sql). [Migrate] applies it; a team
// that runs its own migration tool can apply it there instead. It can run
// any number of times.
//
//go:embed schema.sql
var Schema string

// Beginner begins transactions: a *pgxpool.Pool or a *pgx.Conn.
type Beginner interface {
	Begin(ctx context.Context) (pgx.Tx, error)
}

// Migrate applies [Schema] in one transaction. Every instance of a service
// may call it at startup at the same time: a transaction-scoped advisory
// lock makes them take turns, and each statement leaves what exists in
// place. It is bounded by ctx alone.
func Migrate(ctx context.Context, db Beginner) error {
	tx, err := db.Begin(ctx)
	if err != nil {
		return fmt.Errorf("pgstore: migrate: %w", err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	// Concurrent CREATE ... IF NOT EXISTS of one object can fail on the
	// catalog's unique indexes: take turns.
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock(hashtextextended('backstop_idempotency migrate', 0))"); err != nil {
		return fmt.Errorf("pgstore: migrate: %w", err)
	}
	// Without arguments pgx sends the file as one simple query: several
	// statements, one round trip.
	if _, err := tx.Exec(ctx, Schema); err != nil {
		return fmt.Errorf("pgstore: migrate: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("pgstore: migrate: %w", err)
	}
	return nil
}
