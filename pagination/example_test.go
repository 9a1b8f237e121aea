package pagination_test

import (
	"errors"
	"fmt"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/backstop-go/backstop/pagination"
	"github.com/backstop-go/backstop/problem"
)

// exampleKey stands in for a secret loaded from configuration: 32 random
// bytes or more.
var exampleKey = []byte("0123456789abcdef0123456789abcdef")

func ExampleCodec() {
	clock := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	codec, err := pagination.NewCodec(
		[]pagination.Secret{{ID: 1, Key: exampleKey}},
		pagination.CodecOptions{TTL: 24 * time.Hour, Now: func() time.Time { return clock }},
	)
	if err != nil {
		panic(err)
	}
	byNewest := pagination.NewSort(
		pagination.Key{Column: "created_at", Desc: true},
		pagination.Key{Column: "id", Desc: true, Unique: true},
	)

	// The boundary row: a microsecond timestamp and an id above 2^53.
	at := time.Date(2026, 11, 24, 9, 30, 0, 123456000, time.UTC)
	token, err := codec.Encode(byNewest, pagination.Cursor{Values: []any{at, int64(1)<<60 + 1}}, "status=open")
	if err != nil {
		panic(err)
	}

	cur, err := codec.Decode(token, byNewest, "status=open")
	fmt.Println(cur.Direction, cur.Values[0], cur.Values[1], err)

	// Another filter, a changed character, a day later: all refused.
	_, err = codec.Decode(token, byNewest, "status=closed")
	fmt.Println(errors.Is(err, pagination.ErrCursorFilterMismatch))
	tampered := []byte(token)
	tampered[10] ^= 'A' ^ 'B' // swaps A and B, and others within the alphabet
	if tampered[10] == '-' || tampered[10] == '_' || tampered[10] > 'z' {
		tampered[10] = 'Q'
	}
	_, err = codec.Decode(string(tampered), byNewest, "status=open")
	fmt.Println(err)
	clock = clock.Add(25 * time.Hour)
	_, err = codec.Decode(token, byNewest, "status=open")
	fmt.Println(errors.Is(err, pagination.ErrCursorExpired))
	// Output:
	// forward 2026-11-24 09:30:00.123456 +0000 UTC 1152921504606846977 <nil>
	// true
	// 400 Cursor signature does not verify: The cursor was modified.
	// true
}

func ExamplePaginator_Parse() {
	codec, _ := pagination.NewCodec([]pagination.Secret{{ID: 1, Key: exampleKey}}, pagination.CodecOptions{})
	byID := pagination.NewSort(pagination.Key{Column: "id", Unique: true})
	pager, _ := pagination.New(codec, byID, pagination.Options{DefaultLimit: 20, MaxLimit: 100})

	for _, target := range []string{
		"/items",
		"/items?limit=50",
		"/items?limit=5000", // clamped; set RejectOverMax to refuse instead
		"/items?limit=0",    // never "everything"
		"/items?after=abc&before=def",
		"/items?cursor=forged",
	} {
		req, err := pager.Parse(httptest.NewRequest("GET", target, nil))
		if p, ok := problem.From(err); ok {
			fmt.Printf("%-28s %d %s (%v)\n", target, p.Status, p.Title, p.Extensions["parameter"])
			continue
		}
		fmt.Printf("%-28s limit %d\n", target, req.Limit)
	}
	// Output:
	// /items                       limit 20
	// /items?limit=50              limit 50
	// /items?limit=5000            limit 100
	// /items?limit=0               400 Invalid limit (limit)
	// /items?after=abc&before=def  400 Conflicting cursor parameters (before)
	// /items?cursor=forged         400 Malformed cursor (cursor)
}

func ExamplePaginator_LinkHeader() {
	codec, _ := pagination.NewCodec([]pagination.Secret{{ID: 1, Key: exampleKey}}, pagination.CodecOptions{})
	byID := pagination.NewSort(pagination.Key{Column: "id", Unique: true})
	pager, _ := pagination.New(codec, byID, pagination.Options{})

	// The cursor parameters are replaced; every other parameter is kept.
	r := httptest.NewRequest("GET", "/v1/orders?status=open&limit=10&cursor=OLD", nil)
	fmt.Println(pager.LinkHeader(r, "NEXT", "PREV"))
	// Output:
	// </v1/orders?cursor=NEXT&limit=10&status=open>; rel="next", </v1/orders?cursor=PREV&limit=10&status=open>; rel="prev"
}

func ExampleSort_Keyset() {
	byNewest := pagination.NewSort(
		pagination.Key{Column: "created_at", Desc: true},
		pagination.Key{Column: "id", Desc: true, Unique: true},
	)
	at := time.Date(2026, 11, 24, 9, 30, 0, 0, time.UTC)
	next := &pagination.Cursor{Direction: pagination.Forward, Values: []any{at, int64(42)}}
	prev := &pagination.Cursor{Direction: pagination.Backward, Values: []any{at, int64(42)}}

	// $1 is taken by the query's own filter.
	ks, _ := byNewest.Keyset(pagination.Postgres, next, 1)
	fmt.Println("SELECT * FROM items WHERE status = $1" + ks.And() + " ORDER BY " + ks.OrderBy + " LIMIT 21")
	ks, _ = byNewest.Keyset(pagination.MySQL, prev, 0)
	fmt.Println("SELECT * FROM items" + ks.Where() + " ORDER BY " + ks.OrderBy + " LIMIT 21")

	// Mixed directions need the expanded form.
	byScore := pagination.NewSort(
		pagination.Key{Column: "score", Desc: true},
		pagination.Key{Column: "id", Unique: true},
	)
	ks, _ = byScore.Keyset(pagination.Postgres, &pagination.Cursor{Values: []any{int64(90), int64(7)}}, 0)
	fmt.Println(ks.Predicate, ks.Args)
	// Output:
	// SELECT * FROM items WHERE status = $1 AND ((created_at, id) < ($2, $3)) ORDER BY created_at DESC, id DESC LIMIT 21
	// SELECT * FROM items WHERE ((created_at, id) > (?, ?)) ORDER BY created_at ASC, id ASC LIMIT 21
	// (score <= $1 AND (score < $1 OR (score = $1 AND id > $2))) [90 7]
}

func ExampleNewPage() {
	codec, _ := pagination.NewCodec([]pagination.Secret{{ID: 1, Key: exampleKey}}, pagination.CodecOptions{})
	byID := pagination.NewSort(pagination.Key{Column: "id", Unique: true})
	pager, _ := pagination.New(codec, byID, pagination.Options{})

	r := httptest.NewRequest("GET", "/items?limit=2", nil)
	req, _ := pager.Parse(r)
	// The query returned req.FetchLimit() = 3 rows: there is a next page.
	rows := []int64{10, 11, 12}
	page, _ := pagination.NewPage(req, rows, func(id int64) []any { return []any{id} })
	fmt.Println(page.Data, page.HasMore, page.NextCursor != "", page.PrevCursor != "")

	w := httptest.NewRecorder()
	page.SetLinkHeader(w, r)
	fmt.Println(strings.HasPrefix(w.Header().Get("Link"), "</items?cursor="))
	// Output:
	// [10 11] true true false
	// true
}
