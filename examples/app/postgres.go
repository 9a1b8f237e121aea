package app

import (
	"context"
	"errors"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/backstop-go/backstop/idempotency/pgstore"
	"github.com/backstop-go/backstop/pagination"
)

// Schema creates the tables the PostgreSQL stores use. It is idempotent and
// runs at start; several instances may run it at once.
const Schema = `
CREATE TABLE IF NOT EXISTS users (
	id            bigserial PRIMARY KEY,
	email         text NOT NULL,
	name          text NOT NULL,
	password_hash text NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS users_email ON users (lower(email));
CREATE TABLE IF NOT EXISTS orders (
	id            bigserial PRIMARY KEY,
	owner_issuer  text NOT NULL,
	owner_subject text NOT NULL,
	item          text NOT NULL,
	quantity      integer NOT NULL,
	created_at    timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS orders_owner_newest ON orders (owner_issuer, owner_subject, created_at DESC, id DESC);
`

// Migrate applies Schema. Concurrent first runs can race on CREATE ... IF
// NOT EXISTS, so it serialises them with an advisory lock.
func Migrate(ctx context.Context, pool *pgxpool.Pool) error {
	tx, err := pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx) //nolint:errcheck // a no-op after Commit
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock(7283000001)"); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, Schema); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// PostgresUsers keeps users in PostgreSQL.
type PostgresUsers struct{ Pool *pgxpool.Pool }

// Create implements [Users].
func (p PostgresUsers) Create(ctx context.Context, u User) (User, error) {
	err := p.Pool.QueryRow(ctx,
		"INSERT INTO users (email, name, password_hash) VALUES ($1, $2, $3) RETURNING id",
		u.Email, u.Name, u.PasswordHash).Scan(&u.ID)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" { // unique_violation
		return User{}, ErrEmailTaken
	}
	return u, err
}

// ByEmail implements [Users].
func (p PostgresUsers) ByEmail(ctx context.Context, email string) (User, error) {
	if strings.IndexByte(email, 0) >= 0 {
		return User{}, ErrNotFound // text cannot hold U+0000: no such user, not a failed query
	}
	var u User
	err := p.Pool.QueryRow(ctx,
		"SELECT id, email, name, password_hash FROM users WHERE lower(email) = lower($1)", email).
		Scan(&u.ID, &u.Email, &u.Name, &u.PasswordHash)
	if errors.Is(err, pgx.ErrNoRows) {
		return User{}, ErrNotFound
	}
	return u, err
}

// SetPasswordHash implements [Users].
func (p PostgresUsers) SetPasswordHash(ctx context.Context, id int64, hash string) error {
	_, err := p.Pool.Exec(ctx, "UPDATE users SET password_hash = $2 WHERE id = $1", id, hash)
	return err
}

// PostgresOrders keeps orders in PostgreSQL.
type PostgresOrders struct{ Pool *pgxpool.Pool }

// Create implements [Orders]: through the request's transaction when
// pgstore's transactional idempotency middleware opened one, so that the
// order commits with its recorded response.
func (p PostgresOrders) Create(ctx context.Context, o Order) (Order, error) {
	var q interface {
		QueryRow(context.Context, string, ...any) pgx.Row
	} = p.Pool
	if tx, ok := pgstore.FromContext(ctx); ok {
		q = tx
	}
	err := q.QueryRow(ctx,
		`INSERT INTO orders (owner_issuer, owner_subject, item, quantity, created_at)
		 VALUES ($1, $2, $3, $4, $5) RETURNING id, created_at`,
		o.Owner.Issuer, o.Owner.Subject, o.Item, o.Quantity, o.CreatedAt).Scan(&o.ID, &o.CreatedAt)
	o.CreatedAt = o.CreatedAt.UTC()
	return o, err
}

// Get implements [Orders].
func (p PostgresOrders) Get(ctx context.Context, owner Owner, id int64) (Order, error) {
	o := Order{Owner: owner}
	err := p.Pool.QueryRow(ctx,
		`SELECT id, item, quantity, created_at FROM orders
		 WHERE owner_issuer = $1 AND owner_subject = $2 AND id = $3`,
		owner.Issuer, owner.Subject, id).Scan(&o.ID, &o.Item, &o.Quantity, &o.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return Order{}, ErrNotFound
	}
	o.CreatedAt = o.CreatedAt.UTC()
	return o, err
}

// orderSort is the list's order: newest first, id breaking ties.
var orderSort = pagination.NewSort(
	pagination.Key{Column: "created_at", Desc: true},
	pagination.Key{Column: "id", Desc: true, Unique: true},
)

// List implements [Orders] with the keyset SQL that pagination renders.
func (p PostgresOrders) List(ctx context.Context, owner Owner, q ListQuery) ([]Order, error) {
	dir := pagination.Forward
	if q.Backward {
		dir = pagination.Backward
	}
	var cur *pagination.Cursor
	if q.HasCursor {
		cur = &pagination.Cursor{Direction: dir, Values: []any{q.CreatedAt, q.ID}}
	}
	ks, err := orderSort.Keyset(pagination.Postgres, cur, 2)
	if err != nil {
		return nil, err
	}
	args := append([]any{owner.Issuer, owner.Subject}, ks.Args...)
	rows, err := p.Pool.Query(ctx,
		"SELECT id, item, quantity, created_at FROM orders WHERE owner_issuer = $1 AND owner_subject = $2"+
			ks.And()+" ORDER BY "+ks.OrderBy+" LIMIT "+strconv.Itoa(q.Limit), args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (Order, error) {
		o := Order{Owner: owner}
		err := row.Scan(&o.ID, &o.Item, &o.Quantity, &o.CreatedAt)
		o.CreatedAt = o.CreatedAt.UTC()
		return o, err
	})
}
