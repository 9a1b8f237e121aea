package pagination_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/backstop-go/backstop/pagination"
)

func TestLinkHeader(t *testing.T) {
	t.Parallel()
	p := mustPaginator(t, pagination.Options{})
	ab := mustPaginator(t, pagination.Options{AfterBefore: true})
	tests := []struct {
		name       string
		p          *pagination.Paginator
		target     string
		next, prev string
		want       string
	}{
		{"none", p, "/items", "", "", ""},
		{"first page", p, "/items?limit=5&status=open", "N", "",
			`</items?cursor=N&limit=5&status=open>; rel="next"`},
		{"middle page", p, "/items?cursor=OLD&status=open", "N", "P",
			`</items?cursor=N&status=open>; rel="next", </items?cursor=P&status=open>; rel="prev"`},
		{"last page", p, "/items?after=OLD", "", "P",
			`</items?cursor=P>; rel="prev"`},
		{"after and before", ab, "/items?cursor=OLD&tag=a&tag=b", "N", "P",
			`</items?after=N&tag=a&tag=b>; rel="next", </items?before=P&tag=a&tag=b>; rel="prev"`},
		{"escaping", p, "/it%20ems?q=a%26b%3Ec", "N", "",
			`</it%20ems?cursor=N&q=a%26b%3Ec>; rel="next"`},
		{"network-path lookalike", p, "//evil.example/items", "N", "",
			`</.//evil.example/items?cursor=N>; rel="next"`},
		{"absolute-form target", p, "http://api.example/items?x=1", "N", "",
			`</items?cursor=N&x=1>; rel="next"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, tt.target, nil)
			if got := tt.p.LinkHeader(r, tt.next, tt.prev); got != tt.want {
				t.Errorf("\n got %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestLinkHeaderKeepsStrippedPrefix(t *testing.T) {
	t.Parallel()
	p := mustPaginator(t, pagination.Options{})
	var got string
	h := http.StripPrefix("/api", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = p.LinkHeader(r, "N", "")
	}))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/api/items?limit=2", nil))
	if want := `</api/items?cursor=N&limit=2>; rel="next"`; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

func TestPageSetLinkHeaderAndJSON(t *testing.T) {
	t.Parallel()
	p := mustPaginator(t, pagination.Options{})
	r := httptest.NewRequest(http.MethodGet, "/items?limit=2", nil)
	req, err := p.Parse(r)
	if err != nil {
		t.Fatal(err)
	}
	type item struct {
		ID int64  `json:"id"`
		At string `json:"at"`
	}
	keys := func(it item) []any { return []any{it.At, it.ID} }

	// A first page with more rows: next only.
	page, err := pagination.NewPage(req, []item{{3, "c"}, {2, "b"}, {1, "a"}}, keys)
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	page.SetLinkHeader(rec, r)
	link := rec.Header().Get("Link")
	if want := `</items?cursor=` + page.NextCursor + `&limit=2>; rel="next"`; link != want {
		t.Errorf("Link %s, want %s", link, want)
	}
	if got := rec.Header().Get("Access-Control-Expose-Headers"); got != "Link" {
		t.Errorf("Access-Control-Expose-Headers %q", got)
	}
	b, err := json.Marshal(page)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"data":[{"id":3,"at":"c"},{"id":2,"at":"b"}],"next_cursor":"` + page.NextCursor + `","prev_cursor":null,"has_more":true}`
	if string(b) != want {
		t.Errorf("JSON\n got %s\nwant %s", b, want)
	}

	// An empty page: no links, data is [] and both cursors null.
	empty, err := pagination.NewPage(req, []item(nil), keys)
	if err != nil {
		t.Fatal(err)
	}
	rec = httptest.NewRecorder()
	empty.SetLinkHeader(rec, r)
	if len(rec.Header()) != 0 {
		t.Errorf("headers %v on an empty page", rec.Header())
	}
	b, _ = json.Marshal(empty)
	if want := `{"data":[],"next_cursor":null,"prev_cursor":null,"has_more":false}`; string(b) != want {
		t.Errorf("JSON %s, want %s", b, want)
	}

	// A zero Page sets nothing.
	rec = httptest.NewRecorder()
	pagination.Page[item]{}.SetLinkHeader(rec, r)
	if len(rec.Header()) != 0 {
		t.Errorf("headers %v from a zero page", rec.Header())
	}
}
