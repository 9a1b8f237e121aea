package pagination

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
)

// Page is one page of a list: the rows in canonical sort order and the
// cursors to its neighbours. It marshals to the JSON envelope
//
//	{"data": [...], "next_cursor": "…" or null, "prev_cursor": "…" or null, "has_more": true}
//
// where data is [] (never null) on an empty page. Build it with [NewPage];
// a zero Page marshals as an empty page and sets no Link header.
type Page[T any] struct {
	// Data holds the rows of the page in canonical sort order.
	Data []T
	// NextCursor leads to the rows after this page; empty when there are
	// none.
	NextCursor string
	// PrevCursor leads to the rows before this page; empty when there are
	// none, or when the page is empty.
	PrevCursor string
	// HasMore reports whether more rows exist beyond this page in the
	// direction the request travelled: after it for the first page and
	// next cursors, before it for previous cursors.
	HasMore bool

	p *Paginator
}

// NewPage builds the page of req from rows, the result of a query made with
// req.Keyset and LIMIT req.FetchLimit(): at most Limit+1 rows, in the order
// of the travel direction (reversed for backward pages). keys returns the
// sort-key values of a row, in sort order, as read back from the database,
// so that timestamps keep the database's precision.
//
// NewPage drops the extra row, restores the canonical order of backward
// pages (in place, in rows' array) and encodes the cursors:
//
//   - next: after the last row, when more rows follow it (known from the
//     extra row going forward; always true going backward from a cursor);
//   - prev: before the first row, when rows precede it (known from the extra
//     row going backward; always true going forward from a cursor, though
//     that page may have become empty since).
//
// An empty page has neither cursor. NewPage fails when keys returns values
// that do not match the sort (see [Codec.Encode]): a programming error.
func NewPage[T any](req Request, rows []T, keys func(T) []any) (Page[T], error) {
	if req.p == nil {
		return Page[T]{}, errors.New("pagination: NewPage needs a Request from Paginator.Parse")
	}
	if req.Limit < 1 {
		return Page[T]{}, errors.New("pagination: NewPage: Request.Limit below 1")
	}
	pg := Page[T]{p: req.p}
	dir := req.Direction()
	more := len(rows) > req.Limit
	if more {
		rows = rows[:req.Limit]
	}
	if dir == Backward {
		slices.Reverse(rows)
	}
	pg.Data = rows
	pg.HasMore = more
	if len(rows) == 0 {
		return pg, nil
	}
	hasCursor := req.cursor != nil
	var err error
	if (dir == Forward && more) || (dir == Backward && hasCursor) {
		if pg.NextCursor, err = req.encode(Forward, keys(rows[len(rows)-1])); err != nil {
			return Page[T]{}, err
		}
	}
	if (dir == Backward && more) || (dir == Forward && hasCursor) {
		if pg.PrevCursor, err = req.encode(Backward, keys(rows[0])); err != nil {
			return Page[T]{}, err
		}
	}
	return pg, nil
}

func (r Request) encode(d Direction, values []any) (string, error) {
	s, err := r.p.codec.encode(r.p.sort, Cursor{Direction: d, Values: values}, r.filterFP)
	if err != nil {
		return "", fmt.Errorf("pagination: NewPage: %w", err)
	}
	return s, nil
}

// MarshalJSON writes the envelope described at [Page].
func (pg Page[T]) MarshalJSON() ([]byte, error) {
	env := struct {
		Data       []T     `json:"data"`
		NextCursor *string `json:"next_cursor"`
		PrevCursor *string `json:"prev_cursor"`
		HasMore    bool    `json:"has_more"`
	}{Data: pg.Data, HasMore: pg.HasMore}
	if env.Data == nil {
		env.Data = []T{}
	}
	if pg.NextCursor != "" {
		env.NextCursor = &pg.NextCursor
	}
	if pg.PrevCursor != "" {
		env.PrevCursor = &pg.PrevCursor
	}
	return json.Marshal(env)
}
