package pagination

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/backstop-go/backstop/problem"
)

// Options are the optional settings of a [Paginator]. The zero value is
// valid: limit 20 by default and at most 100, limits above the maximum
// clamped, parameters named "limit", "cursor", "after" and "before", and
// links that carry the cursor in "cursor".
type Options struct {
	// DefaultLimit is the page size when the request gives none. Zero means
	// 20 (or MaxLimit when that is smaller).
	DefaultLimit int
	// MaxLimit is the largest page size. Zero means 100; at most 10000.
	MaxLimit int
	// RejectOverMax answers a limit above MaxLimit with ErrLimitExceeded
	// instead of clamping it to MaxLimit.
	RejectOverMax bool
	// LimitParam names the page-size query parameter. Empty means "limit".
	LimitParam string
	// CursorParam names the query parameter that carries a cursor of either
	// direction (cursors know their direction). Empty means "cursor".
	CursorParam string
	// AfterParam and BeforeParam name the query parameters that carry a
	// cursor to the next or the previous page. Empty means "after" and
	// "before". Requests may use either these or CursorParam.
	AfterParam, BeforeParam string
	// AfterBefore makes links carry the next cursor in AfterParam and the
	// previous one in BeforeParam instead of both in CursorParam.
	AfterBefore bool
}

func (o Options) withDefaults() Options {
	if o.MaxLimit == 0 {
		o.MaxLimit = 100
	}
	if o.DefaultLimit == 0 {
		o.DefaultLimit = min(20, o.MaxLimit)
	}
	if o.LimitParam == "" {
		o.LimitParam = "limit"
	}
	if o.CursorParam == "" {
		o.CursorParam = "cursor"
	}
	if o.AfterParam == "" {
		o.AfterParam = "after"
	}
	if o.BeforeParam == "" {
		o.BeforeParam = "before"
	}
	return o
}

// maxMaxLimit bounds MaxLimit so that limits parse without overflow and
// a page never becomes a dump of the table.
const maxMaxLimit = 10000

// Paginator reads the page size and cursor of list requests for one sort
// order, and builds the pages and links of the responses (see [NewPage]).
// Create paginators with [New]; the zero value is not usable. A Paginator
// is safe for concurrent use.
type Paginator struct {
	codec *Codec
	sort  *Sort
	opts  Options
}

// New returns a paginator for lists ordered by sort whose cursors codec
// encodes. It fails when a limit is negative, when DefaultLimit exceeds
// MaxLimit or MaxLimit exceeds 10000: limits may come from configuration.
// It panics when codec or sort is nil or when two parameters share a name,
// which only a programming mistake does.
func New(codec *Codec, sort *Sort, opts Options) (*Paginator, error) {
	switch {
	case codec == nil:
		panic("pagination: New: nil codec")
	case sort == nil:
		panic("pagination: New: nil sort")
	}
	if opts.DefaultLimit < 0 || opts.MaxLimit < 0 {
		return nil, errors.New("pagination: negative limit")
	}
	opts = opts.withDefaults()
	if opts.MaxLimit > maxMaxLimit {
		return nil, fmt.Errorf("pagination: MaxLimit %d above %d", opts.MaxLimit, maxMaxLimit)
	}
	if opts.DefaultLimit > opts.MaxLimit {
		return nil, fmt.Errorf("pagination: DefaultLimit %d above MaxLimit %d", opts.DefaultLimit, opts.MaxLimit)
	}
	names := map[string]bool{}
	for _, n := range []string{opts.LimitParam, opts.CursorParam, opts.AfterParam, opts.BeforeParam} {
		if names[n] {
			panic(fmt.Sprintf("pagination: New: parameter name %q used twice in Options", n))
		}
		names[n] = true
	}
	return &Paginator{codec: codec, sort: sort, opts: opts}, nil
}

// Codec returns the paginator's codec.
func (p *Paginator) Codec() *Codec { return p.codec }

// Sort returns the paginator's sort.
func (p *Paginator) Sort() *Sort { return p.sort }

// Request is a parsed list request: the page size and, after the first page,
// the verified cursor. Build the query with [Request.Keyset] and
// [Request.FetchLimit], and the response with [NewPage]. Only
// [Paginator.Parse] makes usable Requests.
type Request struct {
	// Limit is the page size: within [1, MaxLimit].
	Limit int

	cursor   *Cursor
	p        *Paginator
	filterFP [8]byte
}

// Parse reads the limit and cursor query parameters of r. filter names what
// else shapes the list (see [Codec.Encode]); the cursor must have been issued
// for the same values, and the cursors of the response will be.
//
// Limit: absent or empty means DefaultLimit. Otherwise it must be a decimal
// integer of digits only, without sign, spaces or leading zeros, from 1 up:
// "0" is rejected, never read as "everything". Above MaxLimit it is clamped,
// or rejected with RejectOverMax.
//
// Cursor: at most one of the cursor, after and before parameters may be
// given, once; an empty value counts as absent. A cursor given as after
// must be one issued for the next page, one given as before for the
// previous page.
//
// Every error is a *problem.Problem of status 400 carrying an extension
// member "parameter" with the name of the offending parameter: pass it to
// problem.Write. Its type is one of ErrLimitInvalid, ErrLimitExceeded,
// ErrCursorConflict or a cursor type of [Codec.Decode].
func (p *Paginator) Parse(r *http.Request, filter ...string) (Request, error) {
	req := Request{p: p, filterFP: filterFingerprint(filter)}
	q := r.URL.Query()
	limit, err := p.parseLimit(q[p.opts.LimitParam])
	if err != nil {
		return Request{}, err.With("parameter", p.opts.LimitParam)
	}
	req.Limit = limit

	var name, token string
	for _, n := range [...]string{p.opts.CursorParam, p.opts.AfterParam, p.opts.BeforeParam} {
		for _, v := range q[n] {
			if v == "" {
				continue
			}
			if token != "" {
				return Request{}, ErrCursorConflict.New(
					fmt.Sprintf("Give one cursor, in one of %q, %q or %q.",
						p.opts.CursorParam, p.opts.AfterParam, p.opts.BeforeParam)).With("parameter", n)
			}
			name, token = n, v
		}
	}
	if token == "" {
		return req, nil
	}
	cur, err2 := p.codec.decode(token, p.sort, req.filterFP)
	if err2 != nil {
		if pr, ok := problem.From(err2); ok {
			pr.With("parameter", name)
		}
		return Request{}, err2
	}
	if (name == p.opts.AfterParam && cur.Direction != Forward) ||
		(name == p.opts.BeforeParam && cur.Direction != Backward) {
		return Request{}, ErrCursorConflict.New(
			fmt.Sprintf("The cursor given as %q leads the other way.", name)).With("parameter", name)
	}
	req.cursor = &cur
	return req, nil
}

func (p *Paginator) parseLimit(vals []string) (int, *problem.Problem) {
	if len(vals) > 1 {
		return 0, p.limitProblem(ErrLimitInvalid, "Give the limit once.")
	}
	if len(vals) == 0 || vals[0] == "" {
		return p.opts.DefaultLimit, nil
	}
	s := vals[0]
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, p.limitProblem(ErrLimitInvalid, "The limit must be a positive integer, written with digits only.")
		}
	}
	if s[0] == '0' {
		return 0, p.limitProblem(ErrLimitInvalid, "The limit must be a positive integer without leading zeros.")
	}
	n := p.opts.MaxLimit + 1 // any number of more than 9 digits is too large
	if len(s) <= 9 {
		n, _ = strconv.Atoi(s)
	}
	if n > p.opts.MaxLimit {
		if p.opts.RejectOverMax {
			return 0, p.limitProblem(ErrLimitExceeded,
				"The limit must not exceed "+strconv.Itoa(p.opts.MaxLimit)+".")
		}
		n = p.opts.MaxLimit
	}
	return n, nil
}

func (p *Paginator) limitProblem(t problem.Type, detail string) *problem.Problem {
	return t.New(detail).With("max_limit", p.opts.MaxLimit)
}

// Cursor returns a copy of the request's cursor, and false on the first
// page, which has none.
func (r Request) Cursor() (Cursor, bool) {
	if r.cursor == nil {
		return Cursor{}, false
	}
	c := *r.cursor
	c.Values = append([]any(nil), c.Values...)
	return c, true
}

// Direction returns the direction the query travels: Forward on the first
// page and after a next cursor, Backward after a previous cursor.
func (r Request) Direction() Direction {
	if r.cursor == nil {
		return Forward
	}
	return r.cursor.Direction
}

// FetchLimit returns Limit+1: the LIMIT of the query, one row more than the
// page so that [NewPage] learns whether more rows follow.
func (r Request) FetchLimit() int { return r.Limit + 1 }

// Keyset returns the WHERE predicate, its arguments and the ORDER BY list
// of the request's query in dialect d, numbering placeholders after the
// argOffset arguments the query already uses (see [Sort.Keyset]).
func (r Request) Keyset(d Dialect, argOffset int) Keyset {
	if r.p == nil {
		return Keyset{}
	}
	ks, err := r.p.sort.Keyset(d, r.cursor, argOffset)
	if err != nil {
		// Parse only keeps cursors that match the sort.
		return Keyset{}
	}
	return ks
}
