package pagination_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/backstop-go/backstop/pagination"
	"github.com/backstop-go/backstop/problem"
)

func mustPaginator(t testing.TB, opts pagination.Options) *pagination.Paginator {
	t.Helper()
	codec := mustCodec(t, []pagination.Secret{{ID: 1, Key: key1}}, pagination.CodecOptions{})
	p, err := pagination.New(codec, byNewest, opts)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestNewRejects(t *testing.T) {
	t.Parallel()
	codec := mustCodec(t, []pagination.Secret{{ID: 1, Key: key1}}, pagination.CodecOptions{})
	tests := []struct {
		name   string
		codec  *pagination.Codec
		sort   *pagination.Sort
		opts   pagination.Options
		panics bool // a programming mistake, not a configuration value
	}{
		{"nil codec", nil, byNewest, pagination.Options{}, true},
		{"nil sort", codec, nil, pagination.Options{}, true},
		{"shared name", codec, byNewest, pagination.Options{CursorParam: "after"}, true},
		{"limit named cursor", codec, byNewest, pagination.Options{LimitParam: "cursor"}, true},
		{"negative default", codec, byNewest, pagination.Options{DefaultLimit: -1}, false},
		{"negative max", codec, byNewest, pagination.Options{MaxLimit: -1}, false},
		{"default above max", codec, byNewest, pagination.Options{DefaultLimit: 50, MaxLimit: 10}, false},
		{"default above default max", codec, byNewest, pagination.Options{DefaultLimit: 101}, false},
		{"max too large", codec, byNewest, pagination.Options{MaxLimit: 10001}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				if r := recover(); (r != nil) != tt.panics {
					t.Errorf("panic %v, want one: %v", r, tt.panics)
				}
			}()
			if p, err := pagination.New(tt.codec, tt.sort, tt.opts); err == nil && !tt.panics {
				t.Fatalf("New = %v, want an error", p)
			}
		})
	}
	// A small MaxLimit lowers the default default.
	p, err := pagination.New(codec, byNewest, pagination.Options{MaxLimit: 5})
	if err != nil {
		t.Fatal(err)
	}
	req, err := p.Parse(httptest.NewRequest(http.MethodGet, "/", nil))
	if err != nil || req.Limit != 5 {
		t.Fatalf("Limit %d, %v; want 5", req.Limit, err)
	}
}

func TestParseLimit(t *testing.T) {
	t.Parallel()
	clamp := mustPaginator(t, pagination.Options{})
	reject := mustPaginator(t, pagination.Options{RejectOverMax: true, DefaultLimit: 10, MaxLimit: 50})
	tests := []struct {
		query     string
		clamp     int // 0: ErrLimitInvalid
		reject    int // 0: ErrLimitInvalid, -1: ErrLimitExceeded
		rejectErr problem.Type
	}{
		{"", 20, 10, problem.Type{}},
		{"limit=", 20, 10, problem.Type{}},
		{"limit=1", 1, 1, problem.Type{}},
		{"limit=50", 50, 50, problem.Type{}},
		{"limit=51", 51, -1, problem.Type{}},
		{"limit=100", 100, -1, problem.Type{}},
		{"limit=101", 100, -1, problem.Type{}},
		{"limit=999999999", 100, -1, problem.Type{}},
		{"limit=99999999999999999999999999", 100, -1, problem.Type{}},
		{"limit=0", 0, 0, problem.Type{}},
		{"limit=00", 0, 0, problem.Type{}},
		{"limit=01", 0, 0, problem.Type{}},
		{"limit=-1", 0, 0, problem.Type{}},
		{"limit=%2B5", 0, 0, problem.Type{}},
		{"limit=1e3", 0, 0, problem.Type{}},
		{"limit=0x10", 0, 0, problem.Type{}},
		{"limit=+5", 0, 0, problem.Type{}}, // + decodes to a space
		{"limit=%205", 0, 0, problem.Type{}},
		{"limit=5%20", 0, 0, problem.Type{}},
		{"limit=5.0", 0, 0, problem.Type{}},
		{"limit=%EF%BC%95", 0, 0, problem.Type{}}, // fullwidth 5
		{"limit=all", 0, 0, problem.Type{}},
		{"limit=5&limit=5", 0, 0, problem.Type{}},
		{"limit=5&limit=", 0, 0, problem.Type{}},
	}
	check := func(t *testing.T, p *pagination.Paginator, query string, want int) {
		t.Helper()
		req, err := p.Parse(httptest.NewRequest(http.MethodGet, "/items?"+query, nil))
		switch want {
		case 0, -1:
			wantType := pagination.ErrLimitInvalid
			if want == -1 {
				wantType = pagination.ErrLimitExceeded
			}
			requireProblem(t, err, wantType)
			pr, _ := problem.From(err)
			if pr.Extensions["parameter"] != "limit" || pr.Extensions["max_limit"] == nil {
				t.Errorf("extensions %v", pr.Extensions)
			}
		default:
			if err != nil {
				t.Fatal(err)
			}
			if req.Limit != want || req.FetchLimit() != want+1 {
				t.Errorf("Limit %d FetchLimit %d, want %d", req.Limit, req.FetchLimit(), want)
			}
		}
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			check(t, clamp, tt.query, tt.clamp)
			check(t, reject, tt.query, tt.reject)
		})
	}
}

func TestParseCursor(t *testing.T) {
	t.Parallel()
	p := mustPaginator(t, pagination.Options{})
	custom := mustPaginator(t, pagination.Options{CursorParam: "page_token", AfterParam: "starting_after", BeforeParam: "ending_before"})
	next, err := p.Codec().Encode(byNewest, pagination.Cursor{Values: []any{"t", 1}})
	if err != nil {
		t.Fatal(err)
	}
	prev, err := p.Codec().Encode(byNewest, pagination.Cursor{Direction: pagination.Backward, Values: []any{"t", 1}})
	if err != nil {
		t.Fatal(err)
	}
	filtered, err := p.Codec().Encode(byNewest, pagination.Cursor{Values: []any{"t", 1}}, "open")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		p      *pagination.Paginator
		query  string
		filter []string
		dir    pagination.Direction
		first  bool
		err    problem.Type
		param  string
	}{
		{"first page", p, "", nil, pagination.Forward, true, problem.Type{}, ""},
		{"empty cursor", p, "cursor=&after=", nil, pagination.Forward, true, problem.Type{}, ""},
		{"cursor next", p, "cursor=" + next, nil, pagination.Forward, false, problem.Type{}, ""},
		{"cursor prev", p, "cursor=" + prev, nil, pagination.Backward, false, problem.Type{}, ""},
		{"after", p, "after=" + next, nil, pagination.Forward, false, problem.Type{}, ""},
		{"before", p, "before=" + prev, nil, pagination.Backward, false, problem.Type{}, ""},
		{"custom names", custom, "ending_before=" + prev, nil, pagination.Backward, false, problem.Type{}, ""},
		{"filter", p, "cursor=" + filtered, []string{"open"}, pagination.Forward, false, problem.Type{}, ""},
		{"after and before", p, "after=" + next + "&before=" + prev, nil, 0, false, pagination.ErrCursorConflict, "before"},
		{"cursor and after", p, "cursor=" + next + "&after=" + next, nil, 0, false, pagination.ErrCursorConflict, "after"},
		{"cursor twice", p, "cursor=" + next + "&cursor=" + next, nil, 0, false, pagination.ErrCursorConflict, "cursor"},
		{"prev cursor as after", p, "after=" + prev, nil, 0, false, pagination.ErrCursorConflict, "after"},
		{"next cursor as before", p, "before=" + next, nil, 0, false, pagination.ErrCursorConflict, "before"},
		{"default names off", custom, "cursor=" + next, nil, pagination.Forward, true, problem.Type{}, ""},
		{"garbage", p, "cursor=abc", nil, 0, false, pagination.ErrCursorMalformed, "cursor"},
		{"garbage after", p, "after=%00", nil, 0, false, pagination.ErrCursorMalformed, "after"},
		{"filter changed", p, "cursor=" + filtered, []string{"closed"}, 0, false, pagination.ErrCursorFilterMismatch, "cursor"},
		{"filter dropped", p, "cursor=" + filtered, nil, 0, false, pagination.ErrCursorFilterMismatch, "cursor"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := tt.p.Parse(httptest.NewRequest(http.MethodGet, "/items?"+tt.query, nil), tt.filter...)
			if tt.err.URI != "" {
				requireProblem(t, err, tt.err)
				pr, _ := problem.From(err)
				if pr.Extensions["parameter"] != tt.param {
					t.Errorf("parameter %v, want %q", pr.Extensions["parameter"], tt.param)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			c, ok := req.Cursor()
			if ok == tt.first {
				t.Fatalf("Cursor() ok = %v", ok)
			}
			if req.Direction() != tt.dir {
				t.Errorf("Direction %v, want %v", req.Direction(), tt.dir)
			}
			if ok && (c.Values[0] != "t" || c.Values[1] != int64(1)) {
				t.Errorf("values %v", c.Values)
			}
		})
	}
}

func TestRequestCursorIsACopy(t *testing.T) {
	t.Parallel()
	p := mustPaginator(t, pagination.Options{})
	tok, err := p.Codec().Encode(byNewest, pagination.Cursor{Values: []any{"t", 1}})
	if err != nil {
		t.Fatal(err)
	}
	req, err := p.Parse(httptest.NewRequest(http.MethodGet, "/?cursor="+tok, nil))
	if err != nil {
		t.Fatal(err)
	}
	c, _ := req.Cursor()
	c.Values[0] = "changed"
	c.Values = c.Values[:1]
	ks := req.Keyset(pagination.Postgres, 0)
	if len(ks.Args) != 2 || ks.Args[0] != "t" {
		t.Fatalf("Keyset args %v after changing a copy", ks.Args)
	}
}

// TestParseErrorsWriteProblems checks what a client sees: a 400
// application/problem+json with the stable type URI, never a 500.
func TestParseErrorsWriteProblems(t *testing.T) {
	t.Parallel()
	p := mustPaginator(t, pagination.Options{})
	handler := problem.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		_, err := p.Parse(r)
		return err
	})
	for _, query := range []string{"limit=-1", "cursor=" + strings.Repeat("A", 2000), "cursor=%FF%FE", "after=a&before=b"} {
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/items?"+query, nil))
		if rec.Code != http.StatusBadRequest {
			t.Errorf("%s: status %d", query, rec.Code)
		}
		var body struct {
			Type      string `json:"type"`
			Status    int    `json:"status"`
			Parameter string `json:"parameter"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
			t.Fatalf("%s: %v: %s", query, err, rec.Body)
		}
		if !strings.HasPrefix(body.Type, "https://pkg.go.dev/github.com/backstop-go/backstop/pagination#Err") ||
			body.Status != 400 || body.Parameter == "" {
			t.Errorf("%s: body %s", query, rec.Body)
		}
		if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") {
			t.Errorf("%s: Content-Type %q", query, ct)
		}
	}
}

func TestProblemTypesAreDistinct(t *testing.T) {
	t.Parallel()
	types := []problem.Type{
		pagination.ErrCursorMalformed, pagination.ErrCursorTampered, pagination.ErrCursorUnknownKey,
		pagination.ErrCursorExpired, pagination.ErrCursorSortMismatch, pagination.ErrCursorFilterMismatch,
		pagination.ErrCursorConflict, pagination.ErrLimitInvalid, pagination.ErrLimitExceeded,
	}
	seen := map[string]bool{}
	for _, ty := range types {
		u, err := url.Parse(ty.URI)
		if err != nil || u.Scheme != "https" || seen[ty.URI] || ty.Status != 400 || ty.Title == "" {
			t.Errorf("bad type %+v", ty)
		}
		seen[ty.URI] = true
		if errors.Is(ty.New("x"), problem.Type{URI: "other"}) {
			t.Error("Is matches another URI")
		}
	}
}
