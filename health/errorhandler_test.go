package health_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"testing"

	"github.com/backstop-go/backstop/health"
	"github.com/backstop-go/backstop/problem"
)

// Every 404 and 405 hands ErrorHandler a problem of its own: a handler that
// decorates it from many goroutines at once races with nothing, and no
// request's decoration reaches another's response. Run under -race.
func TestErrorHandlerMayMutateItsProblem(t *testing.T) {
	w := problem.NewWriter(problem.Options{Logger: quiet})
	reg := newRegistry(t, health.Options{ErrorHandler: func(rw http.ResponseWriter, r *http.Request, err error) {
		var p *problem.Problem
		if !errors.As(err, &p) {
			t.Errorf("ErrorHandler got %v, not a *problem.Problem", err)
			return
		}
		id := r.Header.Get("X-Request-Id")
		p.With("requestId", id).WithHeader("X-Request-Id", id)
		w.Write(rw, r, p)
	}})
	mux := http.NewServeMux()
	mux.Handle("/readyz/{name}", reg.Handler(health.Ready))
	for _, tc := range []struct {
		method string
		code   int
	}{{http.MethodGet, http.StatusNotFound}, {http.MethodPost, http.StatusMethodNotAllowed}} {
		t.Run(fmt.Sprint(tc.code), func(t *testing.T) {
			var wg sync.WaitGroup
			for g := range 8 {
				wg.Go(func() {
					for i := range 200 {
						id := fmt.Sprint(g, "-", i)
						rec := do(mux, tc.method, "/readyz/nope", "X-Request-Id", id)
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
