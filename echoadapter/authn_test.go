package echoadapter_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/backstop-go/backstop/authn"
	"github.com/backstop-go/backstop/echoadapter"
	"github.com/backstop-go/backstop/health"
	"github.com/backstop-go/backstop/problem"
)

// newAuth returns an authn middleware and a signer whose tokens it accepts.
func newAuth(t testing.TB, opts authn.Options) (*authn.Middleware, *authn.Signer) {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := authn.NewSigner("https://id.example.test/", authn.Key{ID: "k1", Key: priv}, authn.SignerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	v, err := authn.NewVerifier(authn.VerifierConfig{
		Issuer:     "https://id.example.test/",
		Audience:   []string{"orders-api"},
		Algorithms: []string{"EdDSA"},
		Keys:       []authn.Key{signer.PublicKey()},
	})
	if err != nil {
		t.Fatal(err)
	}
	m, err := authn.New(v, opts)
	if err != nil {
		t.Fatal(err)
	}
	return m, signer
}

func token(t testing.TB, s *authn.Signer, scope string) string {
	t.Helper()
	tok, err := s.Sign(authn.Claims{Subject: "alice", Audience: []string{"orders-api"}, Scope: scope})
	if err != nil {
		t.Fatal(err)
	}
	return "Bearer " + tok
}

// authnEcho serves /x with mw and a handler that answers with the
// principal's subject, or "anonymous", counting its runs.
func authnEcho(runs *int, mw ...echo.MiddlewareFunc) *echo.Echo {
	e := echo.New()
	e.HTTPErrorHandler = echoadapter.ErrorHandler(nil)
	e.GET("/x", func(c echo.Context) error {
		*runs++
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

// The authn forms answer as the net/http middleware does (status,
// challenge, problem), do not run the handler when they refuse, and
// hand the handler the principal in the request's context.
func TestAuthnForms(t *testing.T) {
	auth, signer := newAuth(t, authn.Options{})
	anon, anonSigner := newAuth(t, authn.Options{Anonymous: true})
	read, write := token(t, signer, "orders:read"), token(t, signer, "orders:read orders:write")
	for _, tc := range []struct {
		name      string
		mw        []echo.MiddlewareFunc
		authz     string
		status    int
		challenge string
		typ       string
		body      string
	}{
		{name: "authenticate without credentials", mw: []echo.MiddlewareFunc{echoadapter.Authenticate(auth)}, status: 401, challenge: "Bearer", typ: authn.ErrUnauthenticated.URI},
		{name: "authenticate with a bad token", mw: []echo.MiddlewareFunc{echoadapter.Authenticate(auth)}, authz: "Bearer x.y.z", status: 401,
			challenge: `Bearer error="invalid_token", error_description="The access token is malformed."`, typ: authn.ErrInvalidToken.URI},
		{name: "authenticate with a malformed header", mw: []echo.MiddlewareFunc{echoadapter.Authenticate(auth)}, authz: "Bearer a b", status: 400,
			challenge: `Bearer error="invalid_request"`, typ: authn.ErrInvalidRequest.URI},
		{name: "authenticate", mw: []echo.MiddlewareFunc{echoadapter.Authenticate(auth)}, authz: read, status: 200, body: "alice"},
		{name: "authenticate anonymous", mw: []echo.MiddlewareFunc{echoadapter.Authenticate(anon)}, status: 200, body: "anonymous"},
		{name: "authenticate anonymous with a token", mw: []echo.MiddlewareFunc{echoadapter.Authenticate(anon)}, authz: token(t, anonSigner, ""), status: 200, body: "alice"},
		{name: "identify never refuses", mw: []echo.MiddlewareFunc{echoadapter.Identify(auth)}, authz: "Bearer x.y.z", status: 200, body: "anonymous"},
		{name: "identify", mw: []echo.MiddlewareFunc{echoadapter.Identify(auth)}, authz: read, status: 200, body: "alice"},
		{name: "require without credentials", mw: []echo.MiddlewareFunc{echoadapter.Require(anon)}, status: 401, challenge: "Bearer", typ: authn.ErrUnauthenticated.URI},
		{name: "require after identify remembers the failure", mw: []echo.MiddlewareFunc{echoadapter.Identify(auth), echoadapter.Require(auth)}, authz: "Bearer x.y.z", status: 401,
			challenge: `Bearer error="invalid_token", error_description="The access token is malformed."`, typ: authn.ErrInvalidToken.URI},
		{name: "require", mw: []echo.MiddlewareFunc{echoadapter.Require(auth)}, authz: read, status: 200, body: "alice"},
		{name: "require after identify", mw: []echo.MiddlewareFunc{echoadapter.Identify(auth), echoadapter.Require(auth)}, authz: read, status: 200, body: "alice"},
		{name: "scopes missing", mw: []echo.MiddlewareFunc{echoadapter.RequireScopes(auth, "orders:write")}, authz: read, status: 403,
			challenge: `Bearer error="insufficient_scope", scope="orders:write"`, typ: authn.ErrInsufficientScope.URI},
		{name: "scopes after identify", mw: []echo.MiddlewareFunc{echoadapter.Identify(auth), echoadapter.RequireScopes(auth, "orders:write")}, authz: read, status: 403,
			challenge: `Bearer error="insufficient_scope", scope="orders:write"`, typ: authn.ErrInsufficientScope.URI},
		{name: "scopes without credentials", mw: []echo.MiddlewareFunc{echoadapter.RequireScopes(auth, "orders:write")}, status: 401, challenge: "Bearer", typ: authn.ErrUnauthenticated.URI},
		{name: "scopes", mw: []echo.MiddlewareFunc{echoadapter.RequireScopes(auth, "orders:write")}, authz: write, status: 200, body: "alice"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			runs := 0
			srv := httptest.NewServer(authnEcho(&runs, tc.mw...))
			defer srv.Close()
			req, _ := http.NewRequest(http.MethodGet, srv.URL+"/x", nil)
			if tc.authz != "" {
				req.Header.Set("Authorization", tc.authz)
			}
			res, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			if res.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", res.StatusCode, tc.status)
			}
			if got := res.Header.Get("WWW-Authenticate"); got != tc.challenge {
				t.Errorf("WWW-Authenticate %q, want %q", got, tc.challenge)
			}
			if tc.status != http.StatusOK {
				if runs != 0 {
					t.Errorf("the handler ran %d times after a refusal", runs)
				}
				p, err := problem.Parse(res)
				if err != nil {
					t.Fatal(err)
				}
				if p.Type != tc.typ || p.Status != tc.status {
					t.Errorf("problem %s %d, want %s %d", p.Type, p.Status, tc.typ, tc.status)
				}
				return
			}
			var body [64]byte
			n, _ := res.Body.Read(body[:])
			if runs != 1 || string(body[:n]) != tc.body {
				t.Errorf("handler ran %d times, answered %q, want %q", runs, body[:n], tc.body)
			}
		})
	}
}

// A refusal is written through the middleware's Options.ErrorHandler, as
// the net/http middleware writes it.
func TestAuthnRefusalsUseErrorHandler(t *testing.T) {
	var got error
	auth, _ := newAuth(t, authn.Options{ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
		got = err
		w.WriteHeader(http.StatusTeapot)
	}})
	runs := 0
	e := authnEcho(&runs, echoadapter.RequireScopes(auth, "orders:write"))
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/x", nil))
	if rec.Code != http.StatusTeapot || runs != 0 {
		t.Fatalf("status %d, handler ran %d times", rec.Code, runs)
	}
	if p, ok := problem.From(got); !ok || p.Status != http.StatusUnauthorized {
		t.Errorf("ErrorHandler got %v", got)
	}
}

func TestAuthnFormsPanicOnBadArguments(t *testing.T) {
	auth, _ := newAuth(t, authn.Options{})
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
