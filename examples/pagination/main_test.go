package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/backstop-go/backstop/examples/internal/pgtest"
	"github.com/backstop-go/backstop/pagination"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

const rows = 157 // not a multiple of any limit below but 1 and 157

var testSecret = bytes.Repeat([]byte{7}, 32)

// newTestService returns the service over a private schema of the shared
// PostgreSQL, with the seeded items.
func newTestService(t *testing.T) (*service, *pgx.Conn) {
	t.Helper()
	conn := pgtest.Conn(t)
	ctx := context.Background()
	if err := setup(ctx, conn, rows); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "ANALYZE items"); err != nil {
		t.Fatal(err)
	}
	s, err := newService(conn, testSecret)
	if err != nil {
		t.Fatal(err)
	}
	return s, conn
}

type envelope struct {
	Data       []item  `json:"data"`
	NextCursor *string `json:"next_cursor"`
	PrevCursor *string `json:"prev_cursor"`
	HasMore    bool    `json:"has_more"`
	links      map[string]string
}

var linkRE = regexp.MustCompile(`<([^>]*)>; rel="(next|prev)"`)

func get(t *testing.T, h http.Handler, target string) envelope {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, target, nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET %s: %d %s", target, rec.Code, rec.Body)
	}
	var env envelope
	if err := json.Unmarshal(rec.Body.Bytes(), &env); err != nil {
		t.Fatal(err)
	}
	env.links = map[string]string{}
	for _, m := range linkRE.FindAllStringSubmatch(rec.Header().Get("Link"), -1) {
		env.links[m[2]] = m[1]
	}
	if (env.NextCursor != nil) != (env.links["next"] != "") || (env.PrevCursor != nil) != (env.links["prev"] != "") {
		t.Fatalf("GET %s: envelope and Link header disagree", target)
	}
	return env
}

func ids(items []item) []int64 {
	out := make([]int64, len(items))
	for i, it := range items {
		out[i] = it.ID
	}
	return out
}

// TestWalkPostgres walks every list forward through the next links and back
// through the prev links, and checks each way returns every row exactly once,
// in the order PostgreSQL gives for the plain ORDER BY.
func TestWalkPostgres(t *testing.T) {
	s, conn := newTestService(t)
	h := s.handler()
	orderBy := map[string]string{ // spelled here independently of the Sort
		"newest": "created_at DESC, id DESC",
		"score":  "score DESC, id ASC",
	}
	for _, sortName := range []string{"newest", "score"} {
		for _, status := range []string{"", "open"} {
			q := "SELECT id FROM items"
			var args []any
			if status != "" {
				q += " WHERE status = $1"
				args = append(args, status)
			}
			r, err := conn.Query(context.Background(), q+" ORDER BY "+orderBy[sortName], args...)
			if err != nil {
				t.Fatal(err)
			}
			want, err := pgx.CollectRows(r, pgx.RowTo[int64])
			if err != nil {
				t.Fatal(err)
			}
			for _, limit := range []int{1, 7, 20, len(want), 100} {
				t.Run(fmt.Sprintf("%s/status=%s/limit=%d", sortName, status, limit), func(t *testing.T) {
					// Limits above 100 are clamped.
					walk(t, h, fmt.Sprintf("/items?sort=%s&status=%s&limit=%d", sortName, status, limit), min(limit, 100), want)
				})
			}
		}
	}
}

func walk(t *testing.T, h http.Handler, start string, limit int, want []int64) {
	t.Helper()
	var forward []int64
	env := get(t, h, start)
	pages := 1
	for {
		if len(env.Data) > limit || (env.links["next"] != "" && len(env.Data) != limit) {
			t.Fatalf("page %d has %d rows, limit %d", pages, len(env.Data), limit)
		}
		forward = append(forward, ids(env.Data)...)
		if env.links["next"] == "" {
			break
		}
		if pages++; pages > len(want)+1 {
			t.Fatal("the forward walk does not end")
		}
		env = get(t, h, env.links["next"])
	}
	if !slices.Equal(forward, want) {
		t.Fatalf("forward walk:\n got %v\nwant %v", forward, want)
	}
	all := ids(env.Data) // the last page
	for env.links["prev"] != "" {
		if pages--; pages < 0 {
			t.Fatal("the backward walk does not end")
		}
		env = get(t, h, env.links["prev"])
		if env.links["next"] == "" {
			t.Fatal("a page reached backward has no next link")
		}
		all = append(ids(env.Data), all...)
	}
	if !slices.Equal(all, want) {
		t.Fatalf("backward walk:\n got %v\nwant %v", all, want)
	}
	if pages != 1 {
		t.Fatalf("backward walk took %d pages fewer than forward", pages-1)
	}
}

// TestKeysetUsesIndex checks that the row comparison the package renders is
// an index condition, not a filter over a scan.
func TestKeysetUsesIndex(t *testing.T) {
	s, conn := newTestService(t)
	ctx := context.Background()
	if _, err := conn.Exec(ctx, "SET enable_seqscan = off"); err != nil {
		t.Fatal(err)
	}
	l := s.sorts["newest"]
	tok, err := l.pager.Codec().Encode(l.pager.Sort(), paginationCursor(t, conn), "")
	if err != nil {
		t.Fatal(err)
	}
	req, err := l.pager.Parse(httptest.NewRequest(http.MethodGet, "/items?cursor="+tok, nil), "")
	if err != nil {
		t.Fatal(err)
	}
	ks := req.Keyset(pagination.Postgres, 0)
	r, err := conn.Query(ctx, "EXPLAIN SELECT id FROM items"+ks.Where()+" ORDER BY "+ks.OrderBy+" LIMIT 21", ks.Args...)
	if err != nil {
		t.Fatal(err)
	}
	plan, err := pgx.CollectRows(r, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Join(plan, "\n")
	if !strings.Contains(text, "Index Cond: (ROW(created_at, id) < ROW(") {
		t.Fatalf("the keyset is not an index condition:\n%s", text)
	}
}

func TestErrorsAre400Problems(t *testing.T) {
	s, _ := newTestService(t)
	h := s.handler()
	open := get(t, h, "/items?status=open&limit=2")
	byScore := get(t, h, "/items?sort=score&limit=2")
	tests := []struct {
		target string
		typ    string
	}{
		{"/items?limit=0", "ErrLimitInvalid"},
		{"/items?limit=abc", "ErrLimitInvalid"},
		{"/items?cursor=garbage", "ErrCursorMalformed"},
		{"/items?status=closed&cursor=" + *open.NextCursor, "ErrCursorFilterMismatch"},
		{"/items?sort=newest&cursor=" + *byScore.NextCursor, "ErrCursorSortMismatch"},
		{"/items?after=" + *open.NextCursor + "&before=" + *open.NextCursor, "ErrCursorConflict"},
		{"/items?sort=random", "unknown-sort"},
	}
	for _, tt := range tests {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, tt.target, nil))
		if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), tt.typ) ||
			!strings.HasPrefix(rec.Header().Get("Content-Type"), "application/problem+json") {
			t.Errorf("GET %s: %d %s %s", tt.target, rec.Code, rec.Header().Get("Content-Type"), rec.Body)
		}
	}
}

// paginationCursor returns a cursor at the middle row of the newest order.
func paginationCursor(t *testing.T, conn *pgx.Conn) pagination.Cursor {
	t.Helper()
	var it item
	err := conn.QueryRow(context.Background(),
		"SELECT id, created_at FROM items ORDER BY created_at DESC, id DESC OFFSET $1 LIMIT 1", rows/2).
		Scan(&it.ID, &it.CreatedAt)
	if err != nil {
		t.Fatal(err)
	}
	return pagination.Cursor{Values: []any{it.CreatedAt, it.ID}}
}

// TestWalkPostgresThreeKeys walks a three-key sort of mixed directions,
// whose predicate is the nested expanded form, with and without a filter
// taking $1 before the keyset's placeholders.
func TestWalkPostgresThreeKeys(t *testing.T) {
	s, conn := newTestService(t)
	sort := pagination.NewSort(
		pagination.Key{Column: "title"},
		pagination.Key{Column: "score", Desc: true},
		pagination.Key{Column: "created_at"},
		pagination.Key{Column: "id", Desc: true, Unique: true},
	)
	pager, err := pagination.New(s.sorts["newest"].pager.Codec(), sort, pagination.Options{})
	if err != nil {
		t.Fatal(err)
	}
	// Few distinct titles, so that every key breaks ties.
	if _, err := conn.Exec(context.Background(), "UPDATE items SET title = 'item ' || (id % 4)"); err != nil {
		t.Fatal(err)
	}
	s.sorts["mixed3"] = listing{pager: pager, keys: func(it item) []any {
		return []any{it.Title, it.Score, it.CreatedAt, it.ID}
	}}
	h := s.handler()
	for _, status := range []string{"", "closed"} {
		q := "SELECT id FROM items"
		var args []any
		if status != "" {
			q += " WHERE status = $1"
			args = append(args, status)
		}
		r, err := conn.Query(context.Background(), q+" ORDER BY title ASC, score DESC, created_at ASC, id DESC", args...)
		if err != nil {
			t.Fatal(err)
		}
		want, err := pgx.CollectRows(r, pgx.RowTo[int64])
		if err != nil {
			t.Fatal(err)
		}
		for _, limit := range []int{1, 6, 50} {
			t.Run(fmt.Sprintf("status=%s/limit=%d", status, limit), func(t *testing.T) {
				walk(t, h, fmt.Sprintf("/items?sort=mixed3&status=%s&limit=%d", status, limit), limit, want)
			})
		}
	}
}
