package bench

// The shared router table (internal/routertest) through chi, which needs
// no adapter: Backstop's middleware is net/http middleware. It runs here
// because bench is the nested module that already depends on the routers;
// the root go.mod never requires one. echo and gin run the same table in
// their adapter modules, ServeMux in the root module.

import (
	"net/http"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"

	"github.com/backstop-go/backstop/internal/routertest"
	"github.com/backstop-go/backstop/problem"
)

func TestChi(t *testing.T) {
	routertest.Run(t, routertest.Router{
		Name:     "chi",
		New:      func(_ testing.TB, s routertest.Setup) http.Handler { return newChi(s) },
		Recovers: []routertest.Recover{routertest.RouterRecover, routertest.ProblemRecover},
		// chi's Recoverer writes a bare 500.
		RouterRecoverWritesProblem: false,
	})
}

func newChi(s routertest.Setup) http.Handler {
	r := chi.NewRouter()
	if s.Recover == routertest.RouterRecover {
		r.Use(middleware.Recoverer)
	} else {
		r.Use(problem.Recover)
	}
	r.NotFound(func(w http.ResponseWriter, r *http.Request) {
		problem.Write(w, r, problem.New(http.StatusNotFound, ""))
	})
	r.MethodNotAllowed(chiMethodNotAllowed(r))
	r.Group(func(r chi.Router) {
		r.Use(s.Idempotency.Handler)
		for path, h := range routertest.Handlers(s) {
			r.Method(http.MethodPost, path, h)
		}
	})
	r.With(s.RateLimit.Handler).Method(http.MethodGet, "/limited", routertest.Limited(s))
	return r
}

// chiMethodNotAllowed answers chi's 405 with a problem. chi sets Allow only
// in its default 405 handler, and a handler set with MethodNotAllowed is
// not told the allowed methods, so it asks the routes.
func chiMethodNotAllowed(routes chi.Routes) http.HandlerFunc {
	methods := []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut,
		http.MethodPatch, http.MethodDelete, http.MethodOptions}
	return func(w http.ResponseWriter, r *http.Request) {
		var allow []string
		for _, m := range methods {
			if routes.Match(chi.NewRouteContext(), m, r.URL.Path) {
				allow = append(allow, m)
			}
		}
		w.Header().Set("Allow", strings.Join(allow, ", "))
		problem.Write(w, r, problem.New(http.StatusMethodNotAllowed, ""))
	}
}
