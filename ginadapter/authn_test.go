package ginadapter_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/backstop-go/backstop/authn"
	"github.com/backstop-go/backstop/ginadapter"
	"github.com/backstop-go/backstop/health"
	"github.com/backstop-go/backstop/internal/routertest"
	"github.com/backstop-go/backstop/problem"
)

// ginForms are ginadapter's authn forms.
var ginForms = routertest.AuthnForms[gin.HandlerFunc]{
	Authenticate:  ginadapter.Authenticate,
	Identify:      ginadapter.Identify,
	Require:       ginadapter.Require,
	RequireScopes: ginadapter.RequireScopes,
}

// authnGin serves /x with steps, in gin's forms, and a handler that
// answers with the principal's subject, or "anonymous", counting its runs.
// With problems, the engine uses Problems first.
func authnGin(problems bool) routertest.AuthnServer {
	return func(_ testing.TB, hits *routertest.Hits, steps ...routertest.AuthnStep) http.Handler {
		mw := ginForms.Chain(steps)
		r := gin.New()
		if problems {
			r.Use(ginadapter.Problems(quiet()))
		}
		r.GET("/x", append(mw, func(c *gin.Context) {
			hits.Hit("/x")
			p, ok := ginadapter.Value(c, authn.FromContext)
			if !ok {
				c.String(http.StatusOK, "anonymous")
				return
			}
			if q, _ := authn.FromContext(c.Request.Context()); q != p {
				_ = c.AbortWithError(http.StatusInternalServerError, errors.New("Value and FromContext disagree"))
				return
			}
			c.String(http.StatusOK, p.Subject)
		})...)
		return r
	}
}

// The authn forms pass routertest's authn table, with and without
// Problems.
func TestAuthnForms(t *testing.T) {
	for _, problems := range []bool{false, true} {
		t.Run("problems="+strconv.FormatBool(problems), func(t *testing.T) {
			routertest.RunAuthn(t, authnGin(problems))
		})
	}
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
	e := authnGin(false)(t, hits, routertest.AuthnStep{Form: routertest.RequireScopes, M: auth, Scopes: []string{"orders:write"}})
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
		"nil":        func() { ginadapter.Require(nil) },
		"zero":       func() { ginadapter.Identify(new(authn.Middleware)) },
		"bad scope":  func() { ginadapter.RequireScopes(auth, "orders write") },
		"empty":      func() { ginadapter.RequireScopes(auth, "") },
		"nil handle": func() { ginadapter.Handler(nil) },
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

// Handler hands health's probes gin's path parameters, so that
// /readyz/:name is about that check alone, and an unknown name is a 404.
func TestHandlerServesHealthByName(t *testing.T) {
	reg := health.New(health.Options{Logger: slog.New(slog.DiscardHandler)})
	t.Cleanup(reg.Close)
	reg.Register("db", func(context.Context) error { return nil }, health.CheckOptions{})
	reg.Register("cache", func(context.Context) error { return errors.New("refused") }, health.CheckOptions{Optional: true})
	e := gin.New()
	e.GET("/readyz", ginadapter.Handler(reg.Handler(health.Ready)))
	e.GET("/readyz/:name", ginadapter.Handler(reg.Handler(health.Ready)))
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
