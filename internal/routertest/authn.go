package routertest

import (
	"crypto/ed25519"
	"crypto/rand"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/backstop-go/backstop/authn"
	"github.com/backstop-go/backstop/problem"
)

// The authn table: every adapter serves GET /x behind its own forms of
// the authn middleware ([AuthnStep]) and a handler that answers 200
// text/plain with the subject of the request's *authn.Principal, or
// "anonymous" without one, calling Hits.Hit("/x") first. [RunAuthn]
// checks that the forms answer as the net/http middleware does (status,
// challenge, problem), do not run the handler when they refuse, and hand
// the handler the principal in the request's context.

// AuthnForm names one of the authn forms of an adapter.
type AuthnForm int

const (
	// Authenticate is the adapter's form of authn.Middleware.Handler.
	Authenticate AuthnForm = iota
	// Identify is the adapter's form of authn.Middleware.Identify.
	Identify
	// Require is the adapter's form of authn.Middleware.Require.
	Require
	// RequireScopes is the adapter's form of
	// authn.Middleware.RequireScopes, with AuthnStep.Scopes.
	RequireScopes
)

// AuthnStep is one middleware of the chain in front of GET /x: the
// adapter's Form of M.
type AuthnStep struct {
	Form   AuthnForm
	M      *authn.Middleware
	Scopes []string // for RequireScopes
}

// AuthnForms are an adapter's forms of the authn middleware, as values of
// its middleware type M.
type AuthnForms[M any] struct {
	Authenticate, Identify, Require func(*authn.Middleware) M
	RequireScopes                   func(*authn.Middleware, ...string) M
}

// Chain returns steps in f's forms, in order.
func (f AuthnForms[M]) Chain(steps []AuthnStep) []M {
	mw := make([]M, 0, len(steps))
	for _, s := range steps {
		switch s.Form {
		case Authenticate:
			mw = append(mw, f.Authenticate(s.M))
		case Identify:
			mw = append(mw, f.Identify(s.M))
		case Require:
			mw = append(mw, f.Require(s.M))
		case RequireScopes:
			mw = append(mw, f.RequireScopes(s.M, s.Scopes...))
		default:
			panic("routertest: unknown AuthnForm")
		}
	}
	return mw
}

// AuthnServer returns the application under test: GET /x behind steps, in
// order, written with the adapter's own forms, and the handler described
// above, counting its runs in hits.
type AuthnServer func(t testing.TB, hits *Hits, steps ...AuthnStep) http.Handler

// AuthnCase is one request of the authn table.
type AuthnCase struct {
	Name      string
	Steps     []AuthnStep
	Authz     string // the Authorization header; none when empty
	Status    int
	Challenge string // WWW-Authenticate
	Type      string // the problem type of a refusal
	Body      string // the subject the handler sees, or "anonymous"
}

// NewAuth returns an authn middleware and a signer whose tokens it
// accepts.
func NewAuth(t testing.TB, opts authn.Options) (*authn.Middleware, *authn.Signer) {
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

// Token returns an Authorization header value: a bearer token of s for
// subject alice with scope.
func Token(t testing.TB, s *authn.Signer, scope string) string {
	t.Helper()
	tok, err := s.Sign(authn.Claims{Subject: "alice", Audience: []string{"orders-api"}, Scope: scope})
	if err != nil {
		t.Fatal(err)
	}
	return "Bearer " + tok
}

// AuthnCases returns the authn table, with fresh middleware: auth, and
// anon under Options.Anonymous.
func AuthnCases(t testing.TB) []AuthnCase {
	auth, signer := NewAuth(t, authn.Options{})
	anon, anonSigner := NewAuth(t, authn.Options{Anonymous: true})
	read, write := Token(t, signer, "orders:read"), Token(t, signer, "orders:read orders:write")
	const (
		malformed = `Bearer error="invalid_token", error_description="The access token is malformed."`
		noWrite   = `Bearer error="insufficient_scope", scope="orders:write"`
	)
	authenticate := func(m *authn.Middleware) AuthnStep { return AuthnStep{Form: Authenticate, M: m} }
	identify := AuthnStep{Form: Identify, M: auth}
	require := func(m *authn.Middleware) AuthnStep { return AuthnStep{Form: Require, M: m} }
	scopes := AuthnStep{Form: RequireScopes, M: auth, Scopes: []string{"orders:write"}}
	steps := func(s ...AuthnStep) []AuthnStep { return s }
	return []AuthnCase{
		{Name: "authenticate without credentials", Steps: steps(authenticate(auth)), Status: 401, Challenge: "Bearer", Type: authn.ErrUnauthenticated.URI},
		{Name: "authenticate with a bad token", Steps: steps(authenticate(auth)), Authz: "Bearer x.y.z", Status: 401, Challenge: malformed, Type: authn.ErrInvalidToken.URI},
		{Name: "authenticate with a malformed header", Steps: steps(authenticate(auth)), Authz: "Bearer a b", Status: 400,
			Challenge: `Bearer error="invalid_request"`, Type: authn.ErrInvalidRequest.URI},
		{Name: "authenticate", Steps: steps(authenticate(auth)), Authz: read, Status: 200, Body: "alice"},
		{Name: "authenticate anonymous", Steps: steps(authenticate(anon)), Status: 200, Body: "anonymous"},
		{Name: "authenticate anonymous with a token", Steps: steps(authenticate(anon)), Authz: Token(t, anonSigner, ""), Status: 200, Body: "alice"},
		{Name: "identify never refuses", Steps: steps(identify), Authz: "Bearer x.y.z", Status: 200, Body: "anonymous"},
		{Name: "identify", Steps: steps(identify), Authz: read, Status: 200, Body: "alice"},
		{Name: "require without credentials", Steps: steps(require(anon)), Status: 401, Challenge: "Bearer", Type: authn.ErrUnauthenticated.URI},
		{Name: "require after identify remembers the failure", Steps: steps(identify, require(auth)), Authz: "Bearer x.y.z", Status: 401,
			Challenge: malformed, Type: authn.ErrInvalidToken.URI},
		{Name: "require", Steps: steps(require(auth)), Authz: read, Status: 200, Body: "alice"},
		{Name: "require after identify", Steps: steps(identify, require(auth)), Authz: read, Status: 200, Body: "alice"},
		{Name: "scopes missing", Steps: steps(scopes), Authz: read, Status: 403, Challenge: noWrite, Type: authn.ErrInsufficientScope.URI},
		{Name: "scopes after identify", Steps: steps(identify, scopes), Authz: read, Status: 403, Challenge: noWrite, Type: authn.ErrInsufficientScope.URI},
		{Name: "scopes without credentials", Steps: steps(scopes), Status: 401, Challenge: "Bearer", Type: authn.ErrUnauthenticated.URI},
		{Name: "scopes", Steps: steps(scopes), Authz: write, Status: 200, Body: "alice"},
	}
}

// RunAuthn runs every case of [AuthnCases] through the applications newApp
// returns, each over a real connection.
func RunAuthn(t *testing.T, newApp AuthnServer) {
	for _, tc := range AuthnCases(t) {
		t.Run(tc.Name, func(t *testing.T) {
			hits := new(Hits)
			srv := httptest.NewServer(newApp(t, hits, tc.Steps...))
			defer srv.Close()
			CheckAuthn(t, srv, hits, tc)
		})
	}
}

// CheckAuthn sends tc's request to srv and checks the answer and the runs
// of the handler counted in hits.
func CheckAuthn(t *testing.T, srv *httptest.Server, hits *Hits, tc AuthnCase) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, srv.URL+"/x", nil)
	if err != nil {
		t.Fatal(err)
	}
	if tc.Authz != "" {
		req.Header.Set("Authorization", tc.Authz)
	}
	res, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != tc.Status {
		t.Fatalf("status %d, want %d", res.StatusCode, tc.Status)
	}
	if got := res.Header.Get("WWW-Authenticate"); got != tc.Challenge {
		t.Errorf("WWW-Authenticate %q, want %q", got, tc.Challenge)
	}
	runs := hits.Count("/x")
	if tc.Status != http.StatusOK {
		if runs != 0 {
			t.Errorf("the handler ran %d times after a refusal", runs)
		}
		p, err := problem.Parse(res)
		if err != nil {
			t.Fatal(err)
		}
		if p.Type != tc.Type || p.Status != tc.Status {
			t.Errorf("problem %s %d, want %s %d", p.Type, p.Status, tc.Type, tc.Status)
		}
		return
	}
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	if runs != 1 || string(body) != tc.Body {
		t.Errorf("handler ran %d times, answered %q, want %q", runs, body, tc.Body)
	}
}
