package authn

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/backstop-go/backstop/internal/decoratetest"
)

// Every 401 and 403 hands ErrorHandler a problem of its own. Run under
// -race.
func TestErrorHandlerMayMutateItsProblem(t *testing.T) {
	m := testMiddleware(t, Options{ErrorHandler: decoratetest.ErrorHandler(t, quietProblems)})
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
			decoratetest.Run(t, tc.h, tc.code, func() *http.Request {
				r := httptest.NewRequest(http.MethodGet, "https://api.example.test/orders", nil)
				bearer(tc.token)(r)
				return r
			})
		})
	}
}
