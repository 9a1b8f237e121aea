package echoadapter_test

import (
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/backstop-go/backstop/echoadapter"
	"github.com/backstop-go/backstop/idempotency"
	"github.com/backstop-go/backstop/internal/routertest"
	"github.com/backstop-go/backstop/problem"
)

// The shared router table, through echo as its users write handlers.
func TestEcho(t *testing.T) {
	routertest.Run(t, routertest.Router{
		Name:                       "echo",
		New:                        func(_ testing.TB, s routertest.Setup) http.Handler { return newEcho(s, nil) },
		Recovers:                   []routertest.Recover{routertest.RouterRecover, routertest.ProblemRecover},
		RouterRecoverWritesProblem: true,
	})
}

// newEcho serves the routes of routertest. extra, when set, is added to
// the route middleware after idempotency.
func newEcho(s routertest.Setup, extra echo.MiddlewareFunc) *echo.Echo {
	e := echo.New()
	e.Logger.SetOutput(discard{})
	e.HTTPErrorHandler = echoadapter.ErrorHandler(nil)
	if s.Recover == routertest.RouterRecover {
		e.Use(middleware.RecoverWithConfig(middleware.RecoverConfig{DisablePrintStack: true}))
	} else {
		e.Use(echoadapter.Wrap(problem.Recover))
	}
	mw := []echo.MiddlewareFunc{echoadapter.Idempotency(s.Idempotency)}
	if extra != nil {
		mw = append(mw, extra)
	}
	e.POST("/writes", func(c echo.Context) error {
		n := s.Hits.Hit("/writes")
		c.Response().Header().Set("Location", "/orders/"+strconv.FormatInt(n, 10))
		return c.JSON(http.StatusCreated, map[string]int64{"id": n})
	}, mw...)
	e.POST("/no-content", func(c echo.Context) error {
		s.Hits.Hit("/no-content")
		return c.NoContent(http.StatusNoContent)
	}, mw...)
	e.POST("/problem", func(c echo.Context) error {
		s.Hits.Hit("/problem")
		return routertest.OutOfCredit.New(routertest.ProblemDetail)
	}, mw...)
	e.POST("/router-error", func(c echo.Context) error {
		s.Hits.Hit("/router-error")
		return echo.NewHTTPError(http.StatusNotFound, routertest.RouterErrorDetail)
	}, mw...)
	e.POST("/fail", func(c echo.Context) error {
		s.Hits.Hit("/fail")
		return routertest.ErrDatabase
	}, mw...)
	e.POST("/panic", func(c echo.Context) error {
		s.Hits.Hit("/panic")
		panic("boom")
	}, mw...)
	e.POST("/nothing", func(c echo.Context) error {
		s.Hits.Hit("/nothing")
		return nil
	}, mw...)
	e.POST("/fence", func(c echo.Context) error {
		s.Hits.Hit("/fence")
		exec, _ := echoadapter.Value(c, idempotency.FromContext)
		return c.JSON(http.StatusOK, routertest.FenceBody{Fence: exec.Fence, Takeover: exec.Takeover})
	}, mw...)
	e.GET("/limited", func(c echo.Context) error {
		s.Hits.Hit("/limited")
		return c.String(http.StatusOK, "ok")
	}, echoadapter.RateLimit(s.RateLimit))
	return e
}

type discard struct{}

func (discard) Write(b []byte) (int, error) { return len(b), nil }

// echo's Recover placed inside the idempotency middleware renders the
// panic inside it: the 500 is what the client gets and the key is released.
func TestRecoverInsideIdempotency(t *testing.T) {
	s := routertest.NewSetup(t, routertest.ProblemRecover)
	srv := httptest.NewServer(newEcho(s, middleware.RecoverWithConfig(middleware.RecoverConfig{DisablePrintStack: true})))
	defer srv.Close()
	routertest.RunCase(t, srv.URL, s.Hits, routertest.Case{Path: "/panic", Status: http.StatusInternalServerError, Problem: true})
}

// Middleware outside the adapter sees echo's record of the response the
// client got: the status of a handler's returned error, and of an answer
// the idempotency middleware wrote itself (a replay).
func TestOuterMiddlewareSeesFinalStatus(t *testing.T) {
	s := routertest.NewSetup(t, routertest.ProblemRecover)
	e := newEcho(s, nil)
	var got []string
	e.Pre(func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			err := next(c)
			got = append(got, strconv.Itoa(c.Response().Status)+" committed="+strconv.FormatBool(c.Response().Committed)+" err="+strconv.FormatBool(err != nil))
			return err
		}
	})
	srv := httptest.NewServer(e)
	defer srv.Close()
	key := "outer-middleware-key"
	routertest.Do(t, http.MethodPost, srv.URL+"/problem", key, nil)
	routertest.Do(t, http.MethodPost, srv.URL+"/problem", key, nil)
	want := []string{"402 committed=true err=true", "402 committed=true err=false"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("outer middleware saw %q, want %q", got, want)
	}
}

func TestErrorHandler(t *testing.T) {
	for _, tc := range []struct {
		name       string
		err        error
		status     int
		detail     string
		notInBody  string
		method     string
		wantNoBody bool
	}{
		{name: "http error with message", err: echo.NewHTTPError(http.StatusConflict, "The order has shipped."), status: 409, detail: "The order has shipped."},
		{name: "http error without message", err: echo.ErrForbidden, status: 403},
		{name: "internal error is never sent", err: echo.NewHTTPError(http.StatusBadGateway, "Upstream failed.").SetInternal(errors.New("secret dsn")), status: 502, detail: "Upstream failed.", notInBody: "secret dsn"},
		{name: "internal http error wins, as in echo", err: echo.NewHTTPError(http.StatusInternalServerError).SetInternal(echo.NewHTTPError(http.StatusTeapot, "short and stout")), status: 418, detail: "short and stout"},
		{name: "non-string message is not sent", err: echo.NewHTTPError(http.StatusBadRequest, errors.New("sql: bad column")), status: 400, notInBody: "sql"},
		{name: "wrapped http error", err: errors.Join(errors.New("context"), echo.ErrUnauthorized), status: 500},
		{name: "binding error", err: echo.NewBindingError("id", []string{"x"}, "path param", errors.New("strconv")), status: 400, detail: "path param", notInBody: "strconv"},
		{name: "problem", err: routertest.OutOfCredit.New("Your balance is 30."), status: http.StatusPaymentRequired, detail: "Your balance is 30."},
		{name: "wrapped problem", err: errorsWrap(routertest.OutOfCredit.New("x")), status: http.StatusPaymentRequired, detail: "x"},
		{name: "plain error", err: routertest.ErrDatabase, status: 500, notInBody: "database"},
		{name: "head", err: echo.ErrNotFound, status: 404, method: http.MethodHead, wantNoBody: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := echo.New()
			e.HTTPErrorHandler = echoadapter.ErrorHandler(quiet(t))
			method := tc.method
			if method == "" {
				method = http.MethodGet
			}
			e.Add(method, "/", func(echo.Context) error { return tc.err })
			rec := httptest.NewRecorder()
			e.ServeHTTP(rec, httptest.NewRequest(method, "/", nil))
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d; body %s", rec.Code, tc.status, rec.Body)
			}
			if ct := rec.Header().Get("Content-Type"); ct != problem.ContentTypeJSON {
				t.Errorf("Content-Type %q", ct)
			}
			if tc.wantNoBody {
				if rec.Body.Len() != 0 {
					t.Errorf("HEAD answered with a body %q", rec.Body)
				}
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

func errorsWrap(err error) error { return &wrapped{err} }

type wrapped struct{ err error }

func (w *wrapped) Error() string { return "wrapped: " + w.err.Error() }
func (w *wrapped) Unwrap() error { return w.err }

// quiet returns a problem.Writer that logs nothing.
func quiet(*testing.T) *problem.Writer {
	return problem.NewWriter(problem.Options{Logger: slog.New(slog.DiscardHandler)})
}

// An error after the response started is echo's to handle: the handler
// writes nothing more.
func TestErrorHandlerLeavesCommittedResponse(t *testing.T) {
	e := echo.New()
	e.HTTPErrorHandler = echoadapter.ErrorHandler(nil)
	e.GET("/", func(c echo.Context) error {
		_ = c.String(http.StatusOK, "partial")
		return errors.New("late")
	})
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	if rec.Code != http.StatusOK || rec.Body.String() != "partial" {
		t.Errorf("got %d %q, want the committed 200 \"partial\" alone", rec.Code, rec.Body)
	}
}

// Wrap's scopes are pooled: the error one request returned is not
// returned for the next.
func TestWrapScopeReusedReturnsOnlyItsOwnError(t *testing.T) {
	wrap := echoadapter.Wrap(func(next http.Handler) http.Handler { return next })
	var returned []error
	e := echo.New()
	e.Use(func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			err := next(c)
			returned = append(returned, err)
			return err
		}
	})
	e.GET("/", func(c echo.Context) error {
		if c.QueryParam("fail") != "" {
			return errors.New("failed")
		}
		return c.NoContent(http.StatusNoContent)
	}, wrap)
	for range 20 { // sync.Pool drops some scopes under -race
		returned = returned[:0]
		for _, target := range []string{"/?fail=1", "/"} {
			e.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, target, nil))
		}
		if len(returned) != 2 || returned[0] == nil || returned[1] != nil {
			t.Fatalf("returned %v, want [failed <nil>]", returned)
		}
	}
}

// Outside the idempotency middleware the request carries no execution.
func TestValueOutsideScope(t *testing.T) {
	e := echo.New()
	e.GET("/", func(c echo.Context) error {
		if _, ok := echoadapter.Value(c, idempotency.FromContext); ok {
			t.Error("Value found an execution outside the idempotency middleware")
		}
		return c.NoContent(http.StatusNoContent)
	})
	e.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil))
}

func TestNilArgumentsPanicAtConstruction(t *testing.T) {
	for name, f := range map[string]func(){
		"Wrap":        func() { echoadapter.Wrap(nil) },
		"RateLimit":   func() { echoadapter.RateLimit(nil) },
		"Idempotency": func() { echoadapter.Idempotency(nil) },
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
