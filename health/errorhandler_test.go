package health_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/backstop-go/backstop/health"
	"github.com/backstop-go/backstop/internal/decoratetest"
	"github.com/backstop-go/backstop/problem"
)

// Every 404 and 405 hands ErrorHandler a problem of its own. Run under
// -race.
func TestErrorHandlerMayMutateItsProblem(t *testing.T) {
	w := problem.NewWriter(problem.Options{Logger: quiet})
	reg := newRegistry(t, health.Options{ErrorHandler: decoratetest.ErrorHandler(t, w)})
	mux := http.NewServeMux()
	mux.Handle("/readyz/{name}", reg.Handler(health.Ready))
	for _, tc := range []struct {
		method string
		code   int
	}{{http.MethodGet, http.StatusNotFound}, {http.MethodPost, http.StatusMethodNotAllowed}} {
		t.Run(fmt.Sprint(tc.code), func(t *testing.T) {
			decoratetest.Run(t, mux, tc.code, func() *http.Request {
				return httptest.NewRequest(tc.method, "/readyz/nope", nil)
			})
		})
	}
}
