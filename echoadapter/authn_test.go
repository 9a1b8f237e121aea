package echoadapter_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/backstop-go/backstop/authn"
	"github.com/backstop-go/backstop/echoadapter"
	"github.com/backstop-go/backstop/health"
	"github.com/backstop-go/backstop/internal/routertest"
	"github.com/backstop-go/backstop/problem"
)

// echoForms are echoadapter's authn forms.
var echoForms = routertest.AuthnForms[echo.MiddlewareFunc]{
	Authenticate:  echoadapter.Authenticate,
	Identify:      echoadapter.Identify,
	Require:       echoadapter.Require,
	RequireScopes: echoadapter.RequireScopes,
}

// authnEcho serves /x with steps, in echo's forms, and a handler that
// answers with the principal's subject, or "anonymous", counting its runs.
func authnEcho(_ testing.TB, hits *routertest.Hits, steps ...routertest.AuthnStep) http.Handler {
	mw := echoForms.Chain(steps)
	e := echo.New()
	e.HTTPErrorHandler = echoadapter.ErrorHandler(nil)
	e.GET("/x", func(c echo.Context) error {
		hits.Hit("/x")
		p, ok := echoadapter.Value(c, authn.FromContext)
		if !ok {
			return c.String(http.StatusOK, "anonymous")
		}
		if q, _ := authn.FromContext(c.Request().Context()); q != p {
			return errors.New("Value and FromContext disagree")
		}
		return c.String(http.StatusOK, p.Subject)
	}, mw...)
	return e
}

// The authn forms pass routertest's authn table.
func TestAuthnForms(t *testing.T) {
	routertest.RunAuthn(t, authnEcho)
}

// A refusal is written through the middleware's Options.ErrorHandler, as
// the net/http middleware writes it.
func TestAuthnRefusalsUseErrorHandler(t *testing.T) {
	var got error
	auth, _ := routertest.NewAuth(t, authn.Options{ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
		got = err
		w.WriteHeader(http.StatusTeapot)
	}})
	hits := new(routertest.Hits)
	e := authnEcho(t, hits, routertest.AuthnStep{Form: routertest.RequireScopes, M: auth, Scopes: []string{"orders:write"}})
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/x", nil))
	if rec.Code != http.StatusTeapot || hits.Count("/x") != 0 {
		t.Fatalf("status %d, handler ran %d times", rec.Code, hits.Count("/x"))
	}
	if p, ok := problem.From(got); !ok || p.Status != http.StatusUnauthorized {
		t.Errorf("ErrorHandler got %v", got)
	}
}

func TestAuthnFormsPanicOnBadArguments(t *testing.T) {
	auth, _ := routertest.NewAuth(t, authn.Options{})
	for name, f := range map[string]func(){
		"nil":        func() { echoadapter.Require(nil) },
		"zero":       func() { echoadapter.Identify(new(authn.Middleware)) },
		"bad scope":  func() { echoadapter.RequireScopes(auth, "orders write") },
		"empty":      func() { echoadapter.RequireScopes(auth, "") },
		"nil handle": func() { echoadapter.Handler(nil) },
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Error("no panic")
				}
			}()
			f()
		})
	}
}

// Handler hands health's probes echo's path parameters, so that
// /readyz/:name is about that check alone, and an unknown name is a 404.
func TestHandlerServesHealthByName(t *testing.T) {
	reg := health.New(health.Options{Logger: slog.New(slog.DiscardHandler)})
	t.Cleanup(reg.Close)
	reg.Register("db", func(context.Context) error { return nil }, health.CheckOptions{})
	reg.Register("cache", func(context.Context) error { return errors.New("refused") }, health.CheckOptions{Optional: true})
	e := echo.New()
	e.GET("/readyz", echoadapter.Handler(reg.Handler(health.Ready)))
	e.GET("/readyz/:name", echoadapter.Handler(reg.Handler(health.Ready)))
	srv := httptest.NewServer(e)
	defer srv.Close()
	for path, want := range map[string]int{
		"/readyz":         http.StatusOK, // an optional check fails: warn
		"/readyz/db":      http.StatusOK,
		"/readyz/cache":   http.StatusServiceUnavailable, // asked for alone
		"/readyz/unknown": http.StatusNotFound,
	} {
		res, err := srv.Client().Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != want {
			t.Errorf("GET %s: %d, want %d", path, res.StatusCode, want)
		}
	}
}
