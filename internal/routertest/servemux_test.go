package routertest_test

import (
	"net/http"
	"testing"

	"github.com/backstop-go/backstop/internal/routertest"
	"github.com/backstop-go/backstop/problem"
)

// ServeMux needs no adapter: Backstop's middleware is net/http middleware.
func TestServeMux(t *testing.T) {
	routertest.Run(t, routertest.Router{
		Name:     "servemux",
		New:      newServeMux,
		Recovers: []routertest.Recover{routertest.ProblemRecover}, // ServeMux has no recover middleware of its own
	})
}

func newServeMux(_ testing.TB, s routertest.Setup) http.Handler {
	mux := http.NewServeMux()
	for path, h := range routertest.Handlers(s) {
		mux.Handle("POST "+path, s.Idempotency.Handler(h))
	}
	mux.Handle("GET /limited", s.RateLimit.Handler(routertest.Limited(s)))
	return problem.Recover(muxProblems(mux))
}

// muxProblems answers ServeMux's own 404 and 405 with problems. ServeMux
// writes them as text/plain and has no hook to replace them, and a
// catch-all "/" pattern would turn every 405 into a 404; mux.Handler tells
// them apart (an empty pattern) at the cost of a second route lookup.
func muxProblems(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h, pattern := mux.Handler(r)
		if pattern != "" {
			mux.ServeHTTP(w, r)
			return
		}
		sw := &statusWriter{header: w.Header()}
		h.ServeHTTP(sw, r) // sets Allow for a 405
		problem.Write(w, r, problem.New(sw.status, ""))
	})
}

// statusWriter keeps the status of ServeMux's error handler, drops its
// text body, and shares the real header map (for Allow).
type statusWriter struct {
	header http.Header
	status int
}

func (w *statusWriter) Header() http.Header         { return w.header }
func (w *statusWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *statusWriter) WriteHeader(code int)        { w.status = code }
