package pagination_test

import (
	"cmp"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/backstop-go/backstop/pagination"
	"github.com/backstop-go/backstop/problem"
)

type walkRow struct {
	ID        int64     `json:"id"`
	CreatedAt time.Time `json:"created_at"`
	Score     int64     `json:"score"`
	Name      string    `json:"name"`
	Open      bool      `json:"open"`
}

// walkDataset has many ties: 5 distinct timestamps, 4 scores, 3 names, and
// ids above 2^53 that float64 could not tell apart.
func walkDataset(n int) []walkRow {
	rng := rand.New(rand.NewPCG(1, 2))
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	rows := make([]walkRow, n)
	for i := range rows {
		rows[i] = walkRow{
			ID:        1<<60 + int64(rng.IntN(1<<20))*2 + int64(i%2), // sparse, some odd
			CreatedAt: base.Add(time.Duration(rng.IntN(5)) * time.Microsecond),
			Score:     int64(rng.IntN(4)),
			Name:      []string{"ant", "bee", "cat"}[rng.IntN(3)],
			Open:      rng.IntN(4) != 0,
		}
	}
	// Make the ids unique.
	slices.SortFunc(rows, func(a, b walkRow) int { return cmp.Compare(a.ID, b.ID) })
	for i := 1; i < len(rows); i++ {
		if rows[i].ID <= rows[i-1].ID {
			rows[i].ID = rows[i-1].ID + 1
		}
	}
	rng.Shuffle(len(rows), func(i, j int) { rows[i], rows[j] = rows[j], rows[i] })
	return rows
}

type walkSort struct {
	name string
	sort *pagination.Sort
	keys func(walkRow) []any
}

var walkSorts = []walkSort{
	{"newest", byNewest, func(r walkRow) []any { return []any{r.CreatedAt, r.ID} }},
	{"mixed", pagination.NewSort(
		pagination.Key{Column: "score", Desc: true},
		pagination.Key{Column: "name"},
		pagination.Key{Column: "created_at", Desc: true},
		pagination.Key{Column: "id", Unique: true},
	), func(r walkRow) []any { return []any{r.Score, r.Name, r.CreatedAt, r.ID} }},
	{"id", pagination.NewSort(pagination.Key{Column: "id", Unique: true}),
		func(r walkRow) []any { return []any{r.ID} }},
}

func compareValue(a, b any) int {
	switch a := a.(type) {
	case int64:
		return cmp.Compare(a, b.(int64))
	case string:
		return cmp.Compare(a, b.(string))
	case time.Time:
		return a.Compare(b.(time.Time))
	}
	panic(fmt.Sprintf("compareValue %T", a))
}

// compareRows compares key tuples in the sort's canonical order.
func compareRows(s *pagination.Sort, a, b []any) int {
	for i, k := range s.Keys() {
		c := compareValue(a[i], b[i])
		if k.Desc {
			c = -c
		}
		if c != 0 {
			return c
		}
	}
	return 0
}

// memoryQuery does what the SQL of req.Keyset does, on a slice: the rows
// strictly beyond the cursor in the travel direction, in travel order, at
// most FetchLimit of them.
func memoryQuery(rows []walkRow, ws walkSort, req pagination.Request, open bool) []walkRow {
	sign := 1
	if req.Direction() == pagination.Backward {
		sign = -1
	}
	cur, hasCursor := req.Cursor()
	var out []walkRow
	for _, r := range rows {
		if open && !r.Open {
			continue
		}
		if hasCursor && sign*compareRows(ws.sort, ws.keys(r), cur.Values) <= 0 {
			continue
		}
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b walkRow) int { return sign * compareRows(ws.sort, ws.keys(a), ws.keys(b)) })
	return out[:min(len(out), req.FetchLimit())]
}

func walkHandler(p *pagination.Paginator, ws walkSort, rows []walkRow) http.Handler {
	return problem.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		open := r.URL.Query().Get("open") == "true"
		req, err := p.Parse(r, strconv.FormatBool(open))
		if err != nil {
			return err
		}
		page, err := pagination.NewPage(req, memoryQuery(rows, ws, req, open), ws.keys)
		if err != nil {
			return err
		}
		page.SetLinkHeader(w, r)
		w.Header().Set("Content-Type", "application/json")
		return json.NewEncoder(w).Encode(page)
	})
}

var linkRE = regexp.MustCompile(`<([^>]*)>; rel="(next|prev)"`)

type walkPage struct {
	Data       []walkRow `json:"data"`
	NextCursor *string   `json:"next_cursor"`
	PrevCursor *string   `json:"prev_cursor"`
	HasMore    bool      `json:"has_more"`
	links      map[string]string
}

func getPage(t *testing.T, h http.Handler, target string) walkPage {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, target, nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET %s: %d %s", target, rec.Code, rec.Body)
	}
	var pg walkPage
	if err := json.Unmarshal(rec.Body.Bytes(), &pg); err != nil {
		t.Fatal(err)
	}
	pg.links = map[string]string{}
	for _, m := range linkRE.FindAllStringSubmatch(rec.Header().Get("Link"), -1) {
		pg.links[m[2]] = m[1]
	}
	if (pg.NextCursor != nil) != (pg.links["next"] != "") || (pg.PrevCursor != nil) != (pg.links["prev"] != "") {
		t.Fatalf("GET %s: envelope and Link header disagree: %s / %v", target, rec.Body, pg.links)
	}
	return pg
}

// walk follows next links from the first page to the last, then prev links
// back to the first, and checks that each way returns want exactly once and
// in order.
func walk(t *testing.T, h http.Handler, start string, limit int, want []walkRow) {
	t.Helper()
	ids := func(rows []walkRow) []int64 {
		out := make([]int64, len(rows))
		for i, r := range rows {
			out[i] = r.ID
		}
		return out
	}
	var forward []walkRow
	pg := getPage(t, h, start)
	if pg.links["prev"] != "" {
		t.Fatalf("the first page has a prev link")
	}
	pages := 1
	for {
		if len(pg.Data) > limit {
			t.Fatalf("page of %d rows, limit %d", len(pg.Data), limit)
		}
		if pg.links["next"] != "" && len(pg.Data) != limit {
			t.Fatalf("a page before the last has %d rows, limit %d", len(pg.Data), limit)
		}
		forward = append(forward, pg.Data...)
		if pg.links["next"] == "" {
			if pg.HasMore {
				t.Fatal("has_more without next")
			}
			break
		}
		if pages++; pages > len(want)+2 {
			t.Fatal("the forward walk does not end")
		}
		pg = getPage(t, h, pg.links["next"])
		if pg.links["prev"] == "" && len(pg.Data) > 0 {
			t.Fatal("a page after a next link has no prev link")
		}
	}
	if !slices.Equal(ids(forward), ids(want)) {
		t.Fatalf("forward walk:\n got %v\nwant %v", ids(forward), ids(want))
	}
	if len(want) == 0 {
		return
	}
	var backward [][]walkRow
	for pg.links["prev"] != "" {
		if pages--; pages < -len(want) {
			t.Fatal("the backward walk does not end")
		}
		pg = getPage(t, h, pg.links["prev"])
		if pg.links["next"] == "" {
			t.Fatal("a page before a prev link has no next link")
		}
		if len(pg.Data) != limit && pg.links["prev"] != "" {
			t.Fatalf("a backward page with a prev link has %d rows, limit %d", len(pg.Data), limit)
		}
		backward = append(backward, pg.Data)
	}
	all := slices.Clone(forward[len(forward)-((len(forward)-1)%limit+1):]) // the last forward page
	for _, b := range backward {
		all = append(slices.Clone(b), all...)
	}
	if !slices.Equal(ids(all), ids(want)) {
		t.Fatalf("backward walk:\n got %v\nwant %v", ids(all), ids(want))
	}
}

func TestWalk(t *testing.T) {
	t.Parallel()
	clock := newClock()
	codec := mustCodec(t, []pagination.Secret{{ID: 1, Key: key1}}, pagination.CodecOptions{TTL: time.Hour, Now: clock.Now})
	for _, n := range []int{0, 1, 2, 12, 60, 61} {
		rows := walkDataset(n)
		for _, ws := range walkSorts {
			p, err := pagination.New(codec, ws.sort, pagination.Options{MaxLimit: 100})
			if err != nil {
				t.Fatal(err)
			}
			h := walkHandler(p, ws, rows)
			for _, open := range []bool{false, true} {
				want := slices.Clone(rows)
				if open {
					want = slices.DeleteFunc(want, func(r walkRow) bool { return !r.Open })
				}
				slices.SortFunc(want, func(a, b walkRow) int { return compareRows(ws.sort, ws.keys(a), ws.keys(b)) })
				for _, limit := range []int{1, 2, 3, 5, 7, 12, 20, 61, 62} {
					name := fmt.Sprintf("%s/n=%d/open=%v/limit=%d", ws.name, n, open, limit)
					t.Run(name, func(t *testing.T) {
						walk(t, h, fmt.Sprintf("/items?open=%v&limit=%d", open, limit), limit, want)
					})
				}
			}
		}
	}
}

// TestWalkRejectsCrossFilterCursor checks that a cursor from the filtered
// list is refused by the unfiltered one.
func TestWalkRejectsCrossFilterCursor(t *testing.T) {
	t.Parallel()
	p := mustPaginator(t, pagination.Options{})
	h := walkHandler(p, walkSorts[0], walkDataset(10))
	pg := getPage(t, h, "/items?open=true&limit=2")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/items?open=false&cursor="+*pg.NextCursor, nil))
	if rec.Code != http.StatusBadRequest || !regexp.MustCompile(`ErrCursorFilterMismatch`).Match(rec.Body.Bytes()) {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
}

func TestNewPageErrors(t *testing.T) {
	t.Parallel()
	p := mustPaginator(t, pagination.Options{})
	req, err := p.Parse(httptest.NewRequest(http.MethodGet, "/?limit=1", nil))
	if err != nil {
		t.Fatal(err)
	}
	rows := []int{1, 2}
	if _, err := pagination.NewPage(pagination.Request{Limit: 1}, rows, func(int) []any { return nil }); err == nil {
		t.Error("NewPage accepted a zero Request")
	}
	if _, err := pagination.NewPage(req, rows, func(int) []any { return []any{1} }); err == nil {
		t.Error("NewPage accepted too few key values")
	}
	if _, err := pagination.NewPage(req, rows, func(int) []any { return []any{nil, 1} }); err == nil {
		t.Error("NewPage accepted a NULL key value")
	}
}
