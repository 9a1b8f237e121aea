package validation_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/backstop-go/backstop/problem"
	"github.com/backstop-go/backstop/problem/validation"
)

// Every problem Decode returns is the caller's own: a handler that adds a
// member, a header or edits a violation, concurrently with other requests,
// races with nothing and leaks nothing into later problems. Run with -race.
func TestDecodeProblemsAreNotShared(t *testing.T) {
	t.Parallel()
	v, err := validation.New(validation.Options{MaxBytes: 64})
	if err != nil {
		t.Fatal(err)
	}
	bodies := []struct{ contentType, body string }{
		{"text/plain", validOrder},
		{"application/json", strings.Repeat(" ", 100)},
		{"application/json", ""},
		{"application/json", `{"email":`},
		{"application/json", `{"email":1}`},
		{"application/json", `{"emial":"x","items":[]}`},
		{"application/json", `{"email":"x"}`},
		{"application/json", `{"email":"a@example.com","email":"b@example.com"}`},
	}
	const rounds = 50
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range rounds {
				b := bodies[(g+i)%len(bodies)]
				r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(b.body))
				r.Header.Set("Content-Type", b.contentType)
				p, ok := problem.From(v.Decode(r, new(order)))
				if !ok {
					t.Errorf("%q: no problem", b.body)
					return
				}
				if _, leaked := p.Extensions["requestId"]; leaked || p.Header.Get("X-Request-Id") != "" {
					t.Errorf("%q: a member of another request leaked into %v", b.body, p)
				}
				id := fmt.Sprint(g, "-", i)
				p.With("requestId", id).WithHeader("X-Request-Id", id)
				p.Detail += " (" + id + ")"
				for i := range validation.Violations(p) {
					validation.Violations(p)[i].Detail = id
				}
			}
		})
	}
	wg.Wait()
}
