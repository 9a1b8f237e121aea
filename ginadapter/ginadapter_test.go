package ginadapter_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/backstop-go/backstop/ginadapter"
	"github.com/backstop-go/backstop/idempotency"
	"github.com/backstop-go/backstop/internal/routertest"
	"github.com/backstop-go/backstop/problem"
)

func init() { gin.SetMode(gin.ReleaseMode) }

// The shared router table, through gin as its users write handlers.
func TestGin(t *testing.T) {
	routertest.Run(t, routertest.Router{
		Name:                       "gin",
		New:                        func(_ testing.TB, s routertest.Setup) http.Handler { return newGin(s, nil) },
		Recovers:                   []routertest.Recover{routertest.RouterRecover, routertest.ProblemRecover},
		RouterRecoverWritesProblem: true,
	})
}

// newGin serves the routes of routertest. extra, when set, is added to the
// route handlers after idempotency.
func newGin(s routertest.Setup, extra gin.HandlerFunc) *gin.Engine {
	r := gin.New()
	r.HandleMethodNotAllowed = true
	r.Use(ginadapter.Problems(quiet()))
	if s.Recover == routertest.RouterRecover {
		r.Use(gin.RecoveryWithWriter(io.Discard))
	} else {
		r.Use(ginadapter.Wrap(problem.Recover))
	}
	post := func(path string, h gin.HandlerFunc) {
		chain := []gin.HandlerFunc{ginadapter.Idempotency(s.Idempotency)}
		if extra != nil {
			chain = append(chain, extra)
		}
		r.POST(path, append(chain, h)...)
	}
	post("/writes", func(c *gin.Context) {
		n := s.Hits.Hit("/writes")
		c.Header("Location", "/orders/"+strconv.FormatInt(n, 10))
		c.JSON(http.StatusCreated, gin.H{"id": n})
	})
	post("/no-content", func(c *gin.Context) {
		s.Hits.Hit("/no-content")
		c.Status(http.StatusNoContent)
	})
	post("/problem", func(c *gin.Context) {
		s.Hits.Hit("/problem")
		_ = c.Error(routertest.OutOfCredit.New(routertest.ProblemDetail))
	})
	post("/router-error", func(c *gin.Context) {
		s.Hits.Hit("/router-error")
		_ = c.AbortWithError(http.StatusNotFound, errors.New(routertest.RouterErrorDetail)).SetType(gin.ErrorTypePublic)
	})
	post("/fail", func(c *gin.Context) {
		s.Hits.Hit("/fail")
		_ = c.AbortWithError(http.StatusInternalServerError, routertest.ErrDatabase)
	})
	post("/panic", func(c *gin.Context) {
		s.Hits.Hit("/panic")
		panic("boom")
	})
	post("/nothing", func(c *gin.Context) {
		s.Hits.Hit("/nothing")
	})
	post("/fence", func(c *gin.Context) {
		s.Hits.Hit("/fence")
		exec, _ := ginadapter.Value(c, idempotency.FromContext)
		c.JSON(http.StatusOK, routertest.FenceBody{Fence: exec.Fence, Takeover: exec.Takeover})
	})
	r.GET("/limited", ginadapter.RateLimit(s.RateLimit), func(c *gin.Context) {
		s.Hits.Hit("/limited")
		c.String(http.StatusOK, "ok")
	})
	return r
}

// quiet returns a problem.Writer that logs nothing.
func quiet() *problem.Writer {
	return problem.NewWriter(problem.Options{Logger: slog.New(slog.DiscardHandler)})
}

// gin.Recovery placed inside the idempotency middleware aborts with a 500
// inside it: the problem is what the client gets and the key is released.
func TestRecoveryInsideIdempotency(t *testing.T) {
	s := routertest.NewSetup(t, routertest.ProblemRecover)
	srv := httptest.NewServer(newGin(s, gin.RecoveryWithWriter(io.Discard)))
	defer srv.Close()
	routertest.RunCase(t, srv.URL, s.Hits, routertest.Case{Path: "/panic", Status: http.StatusInternalServerError, Problem: true})
}

// Middleware outside the adapter (gin.Logger and the like) sees in
// c.Writer the status the client got: of a rendered error, and of an
// answer the idempotency middleware wrote itself (a replay).
func TestOuterMiddlewareSeesFinalStatus(t *testing.T) {
	s := routertest.NewSetup(t, routertest.ProblemRecover)
	var got []string
	r := gin.New()
	r.Use(func(c *gin.Context) {
		c.Next()
		got = append(got, strconv.Itoa(c.Writer.Status())+" written="+strconv.FormatBool(c.Writer.Written()))
	}, ginadapter.Problems(quiet()))
	r.POST("/problem", ginadapter.Idempotency(s.Idempotency), func(c *gin.Context) {
		c.AbortWithStatus(http.StatusPaymentRequired) // a 4xx that idempotency keeps
	})
	srv := httptest.NewServer(r)
	defer srv.Close()
	first := routertest.Do(t, http.MethodPost, srv.URL+"/problem", "outer-middleware-key", nil)
	retry := routertest.Do(t, http.MethodPost, srv.URL+"/problem", "outer-middleware-key", nil)
	routertest.CheckFirst(t, routertest.Case{Path: "/problem", Status: http.StatusPaymentRequired, Problem: true}, first)
	routertest.CheckReplay(t, first, retry)
	want := []string{"402 written=true", "402 written=true"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("outer middleware saw %q, want %q", got, want)
	}
}

// An error that middleware between Problems and the idempotency
// middleware pushed before going on becomes the response when the handler
// sends no body: it is rendered inside the idempotency middleware, so
// that the 500 the client gets releases the key, and is never replayed
// over a 204 that was recorded but not sent.
func TestIdempotencyRendersErrorPushedBeforeIt(t *testing.T) {
	s := routertest.NewSetup(t, routertest.ProblemRecover)
	r := gin.New()
	r.Use(ginadapter.Problems(quiet()), func(c *gin.Context) {
		_ = c.Error(errors.New("cache unavailable")) // noted, not fatal
		c.Next()
	})
	r.POST("/no-content", ginadapter.Idempotency(s.Idempotency), func(c *gin.Context) {
		s.Hits.Hit("/no-content")
		c.Status(http.StatusNoContent)
	})
	srv := httptest.NewServer(r)
	defer srv.Close()
	routertest.RunCase(t, srv.URL, s.Hits, routertest.Case{Path: "/no-content", Status: http.StatusInternalServerError, Problem: true})
}

func TestProblems(t *testing.T) {
	for _, tc := range []struct {
		name      string
		handler   gin.HandlerFunc
		method    string
		status    int
		problem   bool
		detail    string
		body      string
		notInBody string
	}{
		{name: "aborted status", handler: func(c *gin.Context) { c.AbortWithStatus(http.StatusUnauthorized) }, status: 401, problem: true},
		{name: "status without body", handler: func(c *gin.Context) { c.Status(http.StatusConflict) }, status: 409, problem: true},
		{name: "private error under a status", handler: func(c *gin.Context) { _ = c.AbortWithError(http.StatusBadRequest, errors.New("json: secret")) }, status: 400, problem: true, notInBody: "secret"},
		{name: "public error under a status", handler: func(c *gin.Context) {
			_ = c.AbortWithError(http.StatusBadRequest, errors.New("The name is missing.")).SetType(gin.ErrorTypePublic)
		}, status: 400, problem: true, detail: "The name is missing."},
		{name: "error without a status", handler: func(c *gin.Context) { _ = c.Error(errors.New("db: secret")) }, status: 500, problem: true, notInBody: "secret"},
		{name: "problem without a status", handler: func(c *gin.Context) { _ = c.Error(routertest.OutOfCredit.New("x")) }, status: http.StatusPaymentRequired, problem: true, detail: "x"},
		{name: "problem under another status", handler: func(c *gin.Context) {
			_ = c.AbortWithError(http.StatusBadRequest, routertest.OutOfCredit.New("x"))
		}, status: http.StatusPaymentRequired, problem: true, detail: "x"},
		{name: "last error wins", handler: func(c *gin.Context) {
			_ = c.Error(errors.New("first"))
			_ = c.Error(problem.New(http.StatusGone, "second"))
		}, status: 410, problem: true, detail: "second"},
		{name: "written response is left alone", handler: func(c *gin.Context) {
			_ = c.Error(errors.New("logged only"))
			c.String(http.StatusBadRequest, "mine")
		}, status: 400, body: "mine"},
		{name: "json error body is left alone", handler: func(c *gin.Context) {
			c.AbortWithStatusJSON(http.StatusBadRequest, gin.H{"error": "mine"})
		}, status: 400, body: `{"error":"mine"}`},
		{name: "success", handler: func(c *gin.Context) { c.String(http.StatusOK, "ok") }, status: 200, body: "ok"},
		{name: "status only success", handler: func(c *gin.Context) { c.Status(http.StatusAccepted) }, status: 202},
		{name: "head", handler: func(c *gin.Context) { c.AbortWithStatus(http.StatusNotFound) }, method: http.MethodHead, status: 404, problem: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := gin.New()
			r.Use(ginadapter.Problems(quiet()))
			method := tc.method
			if method == "" {
				method = http.MethodGet
			}
			r.Handle(method, "/", tc.handler)
			rec := httptest.NewRecorder()
			r.ServeHTTP(rec, httptest.NewRequest(method, "/", nil))
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d; body %s", rec.Code, tc.status, rec.Body)
			}
			if !tc.problem {
				if rec.Body.String() != tc.body {
					t.Errorf("body %q, want %q", rec.Body, tc.body)
				}
				return
			}
			if ct := rec.Header().Get("Content-Type"); ct != problem.ContentTypeJSON {
				t.Fatalf("Content-Type %q; body %s", ct, rec.Body)
			}
			if method == http.MethodHead {
				return
			}
			p, err := problem.Parse(rec.Result())
			if err != nil {
				t.Fatal(err)
			}
			if p.Status != tc.status || p.Detail != tc.detail {
				t.Errorf("problem %d %q, want %d %q", p.Status, p.Detail, tc.status, tc.detail)
			}
			if tc.notInBody != "" && strings.Contains(rec.Body.String(), tc.notInBody) {
				t.Errorf("body %s holds %q", rec.Body, tc.notInBody)
			}
		})
	}
}

// A problem written inside a Wrap scope to a HEAD request has no body; it
// is the response all the same, which Problems does not render (and log)
// a second time.
func TestHeadErrorInsideWrapIsRenderedOnce(t *testing.T) {
	var logged []string
	w := problem.NewWriter(problem.Options{Logger: slog.New(recordHandler{&logged})})
	r := gin.New()
	r.Use(ginadapter.Problems(w), ginadapter.Wrap(func(next http.Handler) http.Handler { return next }))
	r.HEAD("/", func(c *gin.Context) {
		_ = c.AbortWithError(http.StatusInternalServerError, errors.New("database is down"))
	})
	rec := httptest.NewRecorder()
	r.ServeHTTP(rec, httptest.NewRequest(http.MethodHead, "/", nil))
	if rec.Code != http.StatusInternalServerError || rec.Header().Get("Content-Type") != problem.ContentTypeJSON {
		t.Errorf("%d %q, want a 500 problem", rec.Code, rec.Header().Get("Content-Type"))
	}
	if len(logged) != 1 {
		t.Errorf("the error was rendered %d times: %q; want once", len(logged), logged)
	}
}

// recordHandler is a slog.Handler that keeps the messages it handles.
type recordHandler struct{ msgs *[]string }

func (h recordHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h recordHandler) Handle(_ context.Context, r slog.Record) error {
	*h.msgs = append(*h.msgs, r.Message)
	return nil
}
func (h recordHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h recordHandler) WithGroup(string) slog.Handler      { return h }

// gin's own 404 and 405 become problems; the 405 keeps gin's Allow.
func TestProblemsRouterErrors(t *testing.T) {
	r := gin.New()
	r.HandleMethodNotAllowed = true
	r.Use(ginadapter.Problems(quiet()))
	r.POST("/orders", func(c *gin.Context) { c.Status(http.StatusCreated) })
	for _, tc := range []struct {
		method, path string
		status       int
		allow        string
	}{
		{http.MethodGet, "/nope", 404, ""},
		{http.MethodHead, "/nope", 404, ""},
		{http.MethodGet, "/orders", 405, "POST"},
	} {
		rec := httptest.NewRecorder()
		r.ServeHTTP(rec, httptest.NewRequest(tc.method, tc.path, nil))
		if rec.Code != tc.status || rec.Header().Get("Content-Type") != problem.ContentTypeJSON || rec.Header().Get("Allow") != tc.allow {
			t.Errorf("%s %s: %d %q Allow %q, want %d problem Allow %q; body %q", tc.method, tc.path, rec.Code,
				rec.Header().Get("Content-Type"), rec.Header().Get("Allow"), tc.status, tc.allow, rec.Body)
		}
	}
}

// Without Problems, Wrap changes nothing gin would send: an aborted
// status stays bodiless, and errors stay in c.Errors.
func TestWrapWithoutProblemsIsTransparent(t *testing.T) {
	passThrough := func(next http.Handler) http.Handler { return next }
	r := gin.New()
	r.GET("/abort", ginadapter.Wrap(passThrough), func(c *gin.Context) { c.AbortWithStatus(http.StatusForbidden) })
	r.GET("/error", ginadapter.Wrap(passThrough), func(c *gin.Context) { _ = c.Error(errors.New("x")) })
	r.GET("/status", ginadapter.Wrap(passThrough), func(c *gin.Context) { c.Status(http.StatusAccepted) })
	for path, want := range map[string]int{"/abort": 403, "/error": 200, "/status": 202} {
		rec := httptest.NewRecorder()
		r.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		if rec.Code != want || rec.Body.Len() != 0 || rec.Header().Get("Content-Type") != "" {
			t.Errorf("%s: %d %q %q, want a bare %d", path, rec.Code, rec.Header().Get("Content-Type"), rec.Body, want)
		}
	}
}

// Wrap's scopes are pooled across the routes and engines it is used in:
// one that ran under Problems, reused where there is none, leaves an
// aborted status bodiless.
func TestWrapScopeReusedOutsideProblemsWritesNoProblem(t *testing.T) {
	wrap := ginadapter.Wrap(func(next http.Handler) http.Handler { return next })
	abort := func(c *gin.Context) { c.AbortWithStatus(http.StatusForbidden) }
	withProblems := gin.New()
	withProblems.Use(ginadapter.Problems(quiet()))
	withProblems.GET("/abort", wrap, abort)
	plain := gin.New()
	plain.GET("/abort", wrap, abort)
	for range 20 { // sync.Pool drops some scopes under -race
		rec := httptest.NewRecorder()
		withProblems.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/abort", nil))
		if rec.Code != http.StatusForbidden || rec.Header().Get("Content-Type") != "application/problem+json" {
			t.Fatalf("under Problems: %d %q, want a 403 problem", rec.Code, rec.Header().Get("Content-Type"))
		}
		rec = httptest.NewRecorder()
		plain.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/abort", nil))
		if rec.Code != http.StatusForbidden || rec.Body.Len() != 0 {
			t.Fatalf("without Problems: %d %q, want a bare 403", rec.Code, rec.Body)
		}
	}
}

// The chain sees the request the middleware passed on, and gets the
// outer one back afterwards.
func TestWrapPassesRequestAndRestoresIt(t *testing.T) {
	type key struct{}
	mw := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), key{}, "inner")))
		})
	}
	var inner, outer any
	r := gin.New()
	r.Use(func(c *gin.Context) {
		c.Next()
		outer = c.Request.Context().Value(key{})
	})
	r.GET("/", ginadapter.Wrap(mw), func(c *gin.Context) {
		inner = c.Request.Context().Value(key{})
		c.Status(http.StatusNoContent)
	})
	r.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil))
	if inner != "inner" || outer != nil {
		t.Errorf("chain saw %v, outer middleware saw %v; want inner, <nil>", inner, outer)
	}
}

// A middleware that answers without calling next stops the chain.
func TestWrapAbortsWhenMiddlewareAnswers(t *testing.T) {
	deny := func(http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTeapot) })
	}
	ran := false
	r := gin.New()
	r.GET("/", ginadapter.Wrap(deny), func(c *gin.Context) { ran = true })
	rec := httptest.NewRecorder()
	r.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	if ran || rec.Code != http.StatusTeapot {
		t.Errorf("handler ran: %v, status %d; want false, 418", ran, rec.Code)
	}
}

// Outside the idempotency middleware the request carries no execution.
func TestValueOutsideScope(t *testing.T) {
	r := gin.New()
	found := true
	r.GET("/", func(c *gin.Context) { _, found = ginadapter.Value(c, idempotency.FromContext) })
	r.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil))
	if found {
		t.Error("Value found an execution outside the idempotency middleware")
	}
}

func TestNilArgumentsPanicAtConstruction(t *testing.T) {
	for name, f := range map[string]func(){
		"Wrap":        func() { ginadapter.Wrap(nil) },
		"RateLimit":   func() { ginadapter.RateLimit(nil) },
		"Idempotency": func() { ginadapter.Idempotency(nil) },
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if v := recover(); v == nil || !strings.Contains(v.(string), "nil") {
					t.Errorf("panic %v, want one naming the nil argument", v)
				}
			}()
			f()
		})
	}
}
