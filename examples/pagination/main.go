// Command pagination serves a keyset-paginated list of items from
// PostgreSQL: signed cursors bound to the sort order and the filter, strict
// limits, a JSON envelope and a Link header, and SQL whose keyset predicate
// the pagination package renders.
//
//	export DATABASE_URL='postgres://postgres@localhost:5432/postgres?sslmode=disable'
//	export CURSOR_SECRET=$(openssl rand -hex 32)
//	go run ./examples/pagination            # creates and fills "items" when missing
//	curl -i 'localhost:8080/items?limit=3'
//	curl -i 'localhost:8080/items?limit=3&status=open&sort=score'
//	curl -i 'localhost:8080/items?limit=0'  # 400 problem
package main

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/backstop-go/backstop/pagination"
	"github.com/backstop-go/backstop/problem"
)

// ErrUnknownSort is the problem type of a sort parameter the service does
// not offer.
var ErrUnknownSort = problem.Type{
	URI:    "https://example.com/problems/unknown-sort",
	Title:  "Unknown sort order",
	Status: http.StatusBadRequest,
}

type item struct {
	ID        int64     `json:"id,string"` // above 2^53: a string for JavaScript clients
	CreatedAt time.Time `json:"created_at"`
	Status    string    `json:"status"`
	Title     string    `json:"title"`
	Score     int64     `json:"score"`
}

// querier is what the service needs from the database: *pgxpool.Pool in
// main, a *pgx.Conn in tests.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// listing is one sort order the list offers: its paginator and how to read
// the sort-key values of an item.
type listing struct {
	pager *pagination.Paginator
	keys  func(item) []any
}

type service struct {
	db    querier
	sorts map[string]listing
}

// newService returns the service; secret signs the cursors.
func newService(db querier, secret []byte) (*service, error) {
	codec, err := pagination.NewCodec([]pagination.Secret{{ID: 1, Key: secret}},
		pagination.CodecOptions{TTL: 24 * time.Hour})
	if err != nil {
		return nil, err
	}
	s := &service{db: db, sorts: map[string]listing{}}
	for name, l := range map[string]struct {
		keys []pagination.Key
		vals func(item) []any
	}{
		// Newest first; both keys descend, so the predicate is one row
		// comparison that the (created_at DESC, id DESC) index answers.
		"newest": {[]pagination.Key{
			{Column: "created_at", Desc: true},
			{Column: "id", Desc: true, Unique: true},
		}, func(it item) []any { return []any{it.CreatedAt, it.ID} }},
		// Best score first, oldest id first among equals: mixed
		// directions, so the predicate takes the expanded form.
		"score": {[]pagination.Key{
			{Column: "score", Desc: true},
			{Column: "id", Unique: true},
		}, func(it item) []any { return []any{it.Score, it.ID} }},
	} {
		sort := pagination.NewSort(l.keys...)
		pager, err := pagination.New(codec, sort, pagination.Options{DefaultLimit: 20, MaxLimit: 100})
		if err != nil {
			return nil, err
		}
		s.sorts[name] = listing{pager: pager, keys: l.vals}
	}
	return s, nil
}

func (s *service) handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /items", problem.HandlerFunc(s.listItems))
	return mux
}

// listItems answers GET /items?status=…&sort=newest|score&limit=…&cursor=….
func (s *service) listItems(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	sortName := q.Get("sort")
	if sortName == "" {
		sortName = "newest"
	}
	l, ok := s.sorts[sortName]
	if !ok {
		return ErrUnknownSort.New("Sort by newest or score.").With("parameter", "sort")
	}
	status := q.Get("status")
	// The cursor is bound to the status filter: a cursor of the open items
	// cannot page through the closed ones.
	req, err := l.pager.Parse(r, status)
	if err != nil {
		return err
	}

	var conds []string
	var args []any
	if status != "" {
		args = append(args, status)
		conds = append(conds, "status = $1")
	}
	ks := req.Keyset(pagination.Postgres, len(args))
	if ks.Predicate != "" {
		conds = append(conds, ks.Predicate)
		args = append(args, ks.Args...)
	}
	sql := "SELECT id, created_at, status, title, score FROM items"
	if len(conds) > 0 {
		sql += " WHERE " + strings.Join(conds, " AND ")
	}
	sql += " ORDER BY " + ks.OrderBy + " LIMIT " + strconv.Itoa(req.FetchLimit())

	rows, err := s.db.Query(r.Context(), sql, args...)
	if err != nil {
		return err // a 500 problem; the cause is logged, not sent
	}
	items, err := pgx.CollectRows(rows, pgx.RowToStructByName[item])
	if err != nil {
		return err
	}
	page, err := pagination.NewPage(req, items, l.keys)
	if err != nil {
		return err
	}
	page.SetLinkHeader(w, r)
	w.Header().Set("Content-Type", "application/json")
	return json.NewEncoder(w).Encode(page)
}

// schema creates the items table and its indexes, one per sort order.
const schema = `
CREATE TABLE IF NOT EXISTS items (
	id         bigint PRIMARY KEY,
	created_at timestamptz NOT NULL,
	status     text NOT NULL,
	title      text NOT NULL,
	score      bigint NOT NULL
);
CREATE INDEX IF NOT EXISTS items_newest ON items (created_at DESC, id DESC);
CREATE INDEX IF NOT EXISTS items_status_newest ON items (status, created_at DESC, id DESC);
CREATE INDEX IF NOT EXISTS items_score ON items (score DESC, id);
`

// seed fills items with n rows full of ties: 7 distinct timestamps, 5
// scores, 3 statuses, and ids above 2^53.
const seed = `
INSERT INTO items (id, created_at, status, title, score)
SELECT (1::bigint << 60) + g * 3,
       timestamptz '2026-01-01 00:00:00+00' + (g % 7) * interval '1 microsecond',
       (ARRAY['open', 'closed', 'draft'])[g % 3 + 1],
       'item ' || g,
       g % 5
FROM generate_series(1, $1::int) AS g
ON CONFLICT DO NOTHING`

func setup(ctx context.Context, db querier, n int) error {
	if _, err := db.Exec(ctx, schema); err != nil {
		return err
	}
	_, err := db.Exec(ctx, seed, n)
	return err
}

func main() {
	if err := run(); err != nil {
		slog.Error("pagination example", "err", err)
		os.Exit(1)
	}
}

func run() error {
	secret, err := hex.DecodeString(os.Getenv("CURSOR_SECRET"))
	if err != nil || len(secret) < pagination.MinSecretLength {
		return errors.New("set CURSOR_SECRET to at least 32 random bytes in hex: openssl rand -hex 32")
	}
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, os.Getenv("DATABASE_URL"))
	if err != nil {
		return err
	}
	defer pool.Close()
	if err := setup(ctx, pool, 1000); err != nil {
		return err
	}
	s, err := newService(pool, secret)
	if err != nil {
		return err
	}
	srv := &http.Server{Addr: "localhost:8080", Handler: s.handler(), ReadHeaderTimeout: 5 * time.Second}
	slog.Info("listening", "addr", srv.Addr)
	return srv.ListenAndServe()
}
