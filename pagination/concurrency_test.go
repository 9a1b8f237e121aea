package pagination_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/backstop-go/backstop/pagination"
	"github.com/backstop-go/backstop/problem"
)

// Every problem Parse returns is the caller's own: a handler that adds a
// member or a header, concurrently with other requests, races with nothing
// and leaks nothing into later problems. Run with -race.
func TestParseProblemsAreNotShared(t *testing.T) {
	t.Parallel()
	codec := mustCodec(t, []pagination.Secret{{ID: 1, Key: key1}}, pagination.CodecOptions{})
	pager, err := pagination.New(codec, byNewest, pagination.Options{RejectOverMax: true})
	if err != nil {
		t.Fatal(err)
	}
	queries := []string{"limit=0", "limit=1000", "limit=1&limit=2", "cursor=abc", "cursor=", "after=x&before=y", "cursor=" + string(make([]byte, 2000))}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 50 {
				q := queries[(g+i)%len(queries)]
				if q == "cursor=" {
					continue // valid: the first page
				}
				r := httptest.NewRequest(http.MethodGet, "/items", nil)
				r.URL.RawQuery = q
				_, err := pager.Parse(r)
				p, ok := problem.From(err)
				if !ok {
					t.Errorf("%s: %v, want a problem", q, err)
					return
				}
				if _, leaked := p.Extensions["requestId"]; leaked || p.Header.Get("X-Request-Id") != "" {
					t.Errorf("%s: a member of another request leaked into %v", q, p)
				}
				id := fmt.Sprint(g, "-", i)
				p.With("requestId", id).With("parameter", id).WithHeader("X-Request-Id", id)
			}
		})
	}
	wg.Wait()
}
