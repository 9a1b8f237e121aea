package routertest_test

import (
	"net/http"
	"testing"

	"github.com/backstop-go/backstop/authn"
	"github.com/backstop-go/backstop/internal/routertest"
)

// The authn table holds for the net/http middleware itself, the answers
// every adapter's forms must give.
func TestServeMuxAuthn(t *testing.T) {
	routertest.RunAuthn(t, func(_ testing.TB, hits *routertest.Hits, steps ...routertest.AuthnStep) http.Handler {
		var h http.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			hits.Hit("/x")
			if p, ok := authn.FromContext(r.Context()); ok {
				_, _ = w.Write([]byte(p.Subject))
				return
			}
			_, _ = w.Write([]byte("anonymous"))
		})
		for i := len(steps) - 1; i >= 0; i-- {
			switch s := steps[i]; s.Form {
			case routertest.Authenticate:
				h = s.M.Handler(h)
			case routertest.Identify:
				h = s.M.Identify(h)
			case routertest.Require:
				h = s.M.Require(h)
			case routertest.RequireScopes:
				h = s.M.RequireScopes(s.Scopes...)(h)
			}
		}
		mux := http.NewServeMux()
		mux.Handle("GET /x", h)
		return mux
	})
}
