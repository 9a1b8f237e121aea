package health_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/backstop-go/backstop/health"
	"github.com/backstop-go/backstop/internal/headertest"
	"github.com/backstop-go/backstop/problem"
)

// fixture registers checks that pass, warn and fail. The error texts hold
// what a leak would show (an address) and what an encoder must escape.
func fixture(t *testing.T, opts health.Options, failing bool) *health.Registry {
	reg := newRegistry(t, opts)
	reg.Register("db", func(ctx context.Context) error {
		time.Sleep(2500 * time.Microsecond)
		return nil
	}, health.CheckOptions{})
	reg.Register("search", func(context.Context) error {
		time.Sleep(time.Millisecond)
		return errors.New(`dial tcp 10.0.0.7:9200: connect: connection refused`)
	}, health.CheckOptions{Optional: true})
	if failing {
		reg.Register("queue", func(context.Context) error {
			return errors.New("auth failed for \"svc\"\nretry\x00 \xff")
		}, health.CheckOptions{})
	}
	reg.Register("heartbeat", pass, health.CheckOptions{Probes: health.Live})
	return reg
}

func TestOutputFormats(t *testing.T) {
	showAll := func(*http.Request) bool { return true }
	for _, tc := range []struct {
		golden  string
		failing bool
		show    bool
		drain   bool
		probe   health.Probe
		target  string
		header  []string
		code    int
	}{
		{golden: "ready_warn.json", target: "/readyz", code: 200},
		{golden: "ready_warn.txt", target: "/readyz", header: []string{"Accept", "text/plain"}, code: 200},
		{golden: "ready_warn_verbose.txt", target: "/readyz?verbose", code: 200},
		{golden: "ready_fail.json", failing: true, target: "/readyz", code: 503},
		{golden: "ready_fail.txt", failing: true, target: "/readyz", header: []string{"Accept", "text/plain;q=0.9, */*;q=0.1"}, code: 503},
		{golden: "ready_fail_shown.json", failing: true, show: true, target: "/readyz", code: 503},
		{golden: "ready_fail_shown_verbose.txt", failing: true, show: true, target: "/readyz?verbose=1", code: 503},
		{golden: "ready_exclude.json", failing: true, target: "/readyz?exclude=queue&exclude=nope&exclude=%22x%0A", code: 200},
		{golden: "ready_exclude_verbose.txt", failing: true, target: "/readyz?exclude=queue&verbose&exclude=nope&exclude=%22x%0A", code: 200},
		{golden: "ready_one.json", target: "/readyz/db", code: 200},
		{golden: "ready_one_optional.txt", target: "/readyz/search?verbose", code: 503},
		{golden: "ready_draining.json", drain: true, target: "/readyz", code: 503},
		{golden: "ready_draining_verbose.txt", drain: true, target: "/readyz?verbose", code: 503},
		{golden: "live.json", drain: true, probe: health.Live, target: "/livez", code: 200},
		{golden: "live_verbose.txt", drain: true, probe: health.Live, target: "/livez?verbose", code: 200},
		{golden: "startup.txt", probe: health.Startup, target: "/startupz?verbose", code: 200},
	} {
		t.Run(tc.golden, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				opts := health.Options{}
				if tc.show {
					opts.ShowErrors = showAll
				}
				reg := fixture(t, opts, tc.failing)
				if tc.drain {
					reg.Drain()
				}
				time.Sleep(time.Second) // results carry a time other than the start
				p := tc.probe
				if p == 0 {
					p = health.Ready
				}
				rec := get(reg.Handler(p), tc.target, tc.header...)
				if rec.Code != tc.code {
					t.Errorf("code %d, want %d", rec.Code, tc.code)
				}
				wantType := health.ContentTypeJSON
				if strings.HasSuffix(tc.golden, ".txt") {
					wantType = health.ContentTypeText
				}
				for k, v := range map[string]string{
					"Content-Type":           wantType,
					"Cache-Control":          "no-store",
					"X-Content-Type-Options": "nosniff",
					"Vary":                   "Accept",
				} {
					if got := rec.Header().Get(k); got != v {
						t.Errorf("%s: %q, want %q", k, got, v)
					}
				}
				body := rec.Body.Bytes()
				if wantType == health.ContentTypeJSON && !json.Valid(body) {
					t.Errorf("invalid JSON: %s", body)
				}
				golden(t, tc.golden, body)
			})
		})
	}
}

func TestFailureReasonsWithheldUnlessAllowed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		admin := func(r *http.Request) bool { return r.Header.Get("X-Admin") == "yes" }
		reg := fixture(t, health.Options{ShowErrors: admin}, true)
		h := reg.Handler(health.Ready)
		for _, target := range []string{"/readyz", "/readyz?verbose", "/readyz/search", "/readyz/queue?verbose"} {
			for _, accept := range []string{"application/health+json", "text/plain"} {
				body := get(h, target, "Accept", accept).Body.String()
				if strings.Contains(body, "10.0.0.7") || strings.Contains(body, "svc") {
					t.Errorf("%s (%s) shows a reason to an anonymous caller: %s", target, accept, body)
				}
				body = get(h, target, "Accept", accept, "X-Admin", "yes").Body.String()
				if !strings.Contains(body, "10.0.0.7") && !strings.Contains(body, "svc") {
					t.Errorf("%s (%s) withholds the reason from an allowed caller: %s", target, accept, body)
				}
			}
		}
	})
}

func TestSingleCheckByPathValue(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		reg := fixture(t, health.Options{}, true)
		mux := http.NewServeMux()
		mux.Handle("GET /readyz", reg.Handler(health.Ready))
		mux.Handle("GET /readyz/{name}", reg.Handler(health.Ready))
		mux.Handle("GET /livez/{name}", reg.Handler(health.Live))
		for target, code := range map[string]int{
			"/readyz":           503,
			"/readyz/db":        200,
			"/readyz/queue":     503,
			"/readyz/search":    503, // optional, but asked for alone
			"/readyz/shutdown":  200,
			"/readyz/heartbeat": 404, // a liveness check
			"/readyz/nope":      404,
			"/livez/heartbeat":  200,
			"/livez/db":         404,
		} {
			rec := get(mux, target)
			if rec.Code != code {
				t.Errorf("%s: code %d, want %d", target, rec.Code, code)
			}
			if code == 404 {
				if ct := rec.Header().Get("Content-Type"); ct != problem.ContentTypeJSON {
					t.Errorf("%s: Content-Type %q, want a problem", target, ct)
				}
				if !strings.Contains(rec.Body.String(), health.ErrUnknownCheck.URI) {
					t.Errorf("%s: body %s, want type %s", target, rec.Body, health.ErrUnknownCheck.URI)
				}
			}
		}
	})
}

func TestSingleCheckByPathSuffix(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		reg := fixture(t, health.Options{}, true)
		h := reg.Handler(health.Ready) // as mounted on a router without path values
		for target, want := range map[string]string{
			"/readyz":                 `{"status":"fail"`,
			"/readyz/":                `{"status":"fail"`,
			"/health/ready":           `{"status":"fail"`,
			"/readyz/db":              `{"status":"pass","checks":{"db":`,
			"/prefix/readyz/db":       `{"status":"pass","checks":{"db":`,
			"/readyz/queue":           `{"status":"fail","checks":{"queue":`,
			"/readyz/shutdown?x=1":    `{"status":"pass","checks":{"shutdown":`,
			"/readyz/search?verbose=": `[-]search failed`,
		} {
			if body := get(h, target).Body.String(); !strings.HasPrefix(body, want) {
				t.Errorf("%s: %s, want it to start with %s", target, body, want)
			}
		}
	})
}

func TestHandlerMethods(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		reg := fixture(t, health.Options{}, false)
		h := reg.Handler(health.Ready)
		rec := do(h, http.MethodHead, "/readyz")
		if rec.Code != 200 || rec.Body.Len() != 0 || rec.Header().Get("Content-Type") != health.ContentTypeJSON {
			t.Errorf("HEAD: code %d, %d body bytes, %q", rec.Code, rec.Body.Len(), rec.Header().Get("Content-Type"))
		}
		for _, m := range []string{http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodOptions} {
			rec := do(h, m, "/readyz")
			if rec.Code != http.StatusMethodNotAllowed || rec.Header().Get("Allow") != "GET, HEAD" ||
				rec.Header().Get("Content-Type") != problem.ContentTypeJSON {
				t.Errorf("%s: code %d, Allow %q, Content-Type %q; want a 405 problem with Allow: GET, HEAD",
					m, rec.Code, rec.Header().Get("Allow"), rec.Header().Get("Content-Type"))
			}
		}
	})
}

func TestErrorHandlerWritesProblems(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var got []error
		reg := newRegistry(t, health.Options{ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			got = append(got, err)
			w.WriteHeader(http.StatusTeapot)
		}})
		mux := http.NewServeMux()
		mux.Handle("/readyz/{name}", reg.Handler(health.Ready))
		if rec := get(mux, "/readyz/nope"); rec.Code != http.StatusTeapot {
			t.Errorf("code %d", rec.Code)
		}
		do(mux, http.MethodPost, "/readyz/x")
		if len(got) != 2 || !errors.Is(got[0], health.ErrUnknownCheck) {
			t.Fatalf("ErrorHandler got %v, want ErrUnknownCheck and a 405", got)
		}
		if p, ok := problem.From(got[1]); !ok || p.Status != http.StatusMethodNotAllowed {
			t.Errorf("second error %v, want a 405 problem", got[1])
		}
	})
}

func TestTextWhenAcceptListsTextAndNoJSON(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		reg := fixture(t, health.Options{}, false)
		h := reg.Handler(health.Ready)
		for accept, want := range map[string]string{
			"":                                     health.ContentTypeJSON,
			"*/*":                                  health.ContentTypeJSON,
			"text/html,application/xhtml+xml,*/*":  health.ContentTypeJSON,
			"text/plain":                           health.ContentTypeText,
			"TEXT/PLAIN; charset=utf-8":            health.ContentTypeText,
			"text/plain, application/health+json":  health.ContentTypeJSON,
			"application/json":                     health.ContentTypeJSON,
			"text/plain;q=1, application/json;q=0": health.ContentTypeJSON,
		} {
			var hdr []string
			if accept != "" {
				hdr = []string{"Accept", accept}
			}
			if got := get(h, "/readyz", hdr...).Header().Get("Content-Type"); got != want {
				t.Errorf("Accept %q: %q, want %q", accept, got, want)
			}
		}
	})
}

// Middleware that rewrites a probe response's header values in place (an
// http.Header is a map of slices its holder owns) changes that response
// only, never a later or concurrent one.
func TestProbeHeaderValuesAreNotShared(t *testing.T) {
	reg := fiveChecks(t, health.Options{}, health.CheckOptions{})
	h := reg.Handler(health.Ready)
	headertest.RewriteConcurrently(func() http.Header {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
		return rec.Header()
	})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
	for k, want := range map[string]string{"Content-Type": health.ContentTypeJSON, "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff", "Vary": "Accept"} {
		if got := rec.Header().Get(k); got != want {
			t.Errorf("%s: %q after other responses' values were rewritten, want %q", k, got, want)
		}
	}
}
