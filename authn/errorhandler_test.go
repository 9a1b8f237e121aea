package authn

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"testing"

	"github.com/backstop-go/backstop/problem"
)

// Every 401 and 403 hands ErrorHandler a problem of its own: a handler that
// decorates it (a member, a header) from many goroutines at once races with
// nothing, and no request's decoration reaches another's response. Run
// under -race.
func TestErrorHandlerMayMutateItsProblem(t *testing.T) {
	handler := func(w http.ResponseWriter, r *http.Request, err error) {
		var p *problem.Problem
		if !errors.As(err, &p) {
			t.Errorf("ErrorHandler got %v, not a *problem.Problem", err)
			return
		}
		id := r.Header.Get("X-Request-Id")
		p.With("requestId", id).WithHeader("X-Request-Id", id)
		quietProblems.Write(w, r, p)
	}
	m := testMiddleware(t, Options{ErrorHandler: handler})
	valid := sign(t, "EdDSA", nil, goodClaims())
	for _, tc := range []struct {
		name  string
		h     http.Handler
		token string
		code  int
	}{
		{"401", m.Handler(whoami), "x.y.z", http.StatusUnauthorized},
		{"403", m.Handler(m.RequireScopes("admin")(whoami)), valid, http.StatusForbidden},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var wg sync.WaitGroup
			for g := range 8 {
				wg.Go(func() {
					for i := range 200 {
						id := fmt.Sprint(g, "-", i)
						rec := serve(tc.h, http.MethodGet, func(r *http.Request) {
							bearer(tc.token)(r)
							r.Header.Set("X-Request-Id", id)
						})
						var body map[string]any
						if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || rec.Code != tc.code {
							t.Errorf("%d %s: %v", rec.Code, rec.Body, err)
							return
						}
						if body["requestId"] != id || len(rec.Header().Values("X-Request-Id")) != 1 || rec.Header().Get("X-Request-Id") != id {
							t.Errorf("request %s got another request's decoration: %s %v", id, rec.Body, rec.Header())
							return
						}
					}
				})
			}
			wg.Wait()
		})
	}
}
