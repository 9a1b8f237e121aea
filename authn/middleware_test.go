package authn

import (
	"context"
	"encoding/json"
	"maps"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/metric"
	metricnoop "go.opentelemetry.io/otel/metric/noop"

	"github.com/backstop-go/backstop/internal/clocktest"
)

func testMiddleware(t testing.TB, opts Options) *Middleware {
	t.Helper()
	m, err := New(testVerifier(t, clocktest.New(), nil), opts)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// whoami answers 200 with "<sub>@<iss>" or "anonymous".
var whoami = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	if p, ok := FromContext(r.Context()); ok {
		w.Write([]byte(p.String()))
		return
	}
	w.Write([]byte("anonymous"))
})

func serve(h http.Handler, method string, edit func(*http.Request)) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, "https://api.example.test/orders", nil)
	if edit != nil {
		edit(r)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	return rec
}

func bearer(tok string) func(*http.Request) {
	return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok) }
}

func problemType(t *testing.T, rec *httptest.ResponseRecorder) string {
	t.Helper()
	if ct := rec.Header().Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("Content-Type %q, body %s", ct, rec.Body)
	}
	var p struct {
		Type  string `json:"type"`
		Error string `json:"error"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil {
		t.Fatal(err)
	}
	return p.Type
}

func TestHandlerAnswers(t *testing.T) {
	good := sign(t, "EdDSA", nil, goodClaims())
	expired := goodClaims()
	expired["exp"] = clocktest.Start.Add(-time.Hour).Unix()
	m := testMiddleware(t, Options{})
	h := m.Handler(whoami)
	cases := []struct {
		name      string
		edit      func(*http.Request)
		status    int
		challenge string
		typ       string
	}{
		{"valid", bearer(good), 200, "", ""},
		{"lowercase scheme", func(r *http.Request) { r.Header.Set("Authorization", "bearer "+good) }, 200, "", ""},
		{"missing", nil, 401, "Bearer", ErrUnauthenticated.URI},
		{"another scheme", func(r *http.Request) { r.Header.Set("Authorization", "Basic YWxpY2U6cHc=") }, 401, "Bearer", ErrUnauthenticated.URI},
		{"query string is never read", func(r *http.Request) { r.URL.RawQuery = "access_token=" + good }, 401, "Bearer", ErrUnauthenticated.URI},
		{"expired", bearer(sign(t, "EdDSA", nil, expired)), 401,
			`Bearer error="invalid_token", error_description="The access token expired."`, ErrInvalidToken.URI},
		{"garbage", bearer("abc"), 401, `Bearer error="invalid_token", error_description="The access token is malformed."`, ErrInvalidToken.URI},
		{"empty token", func(r *http.Request) { r.Header.Set("Authorization", "Bearer ") }, 400, `Bearer error="invalid_request"`, ErrInvalidRequest.URI},
		{"two spaces", func(r *http.Request) { r.Header.Set("Authorization", "Bearer  "+good) }, 400, `Bearer error="invalid_request"`, ErrInvalidRequest.URI},
		{"two headers", func(r *http.Request) {
			r.Header.Add("Authorization", "Bearer "+good)
			r.Header.Add("Authorization", "Bearer "+good)
		}, 400, `Bearer error="invalid_request"`, ErrInvalidRequest.URI},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rec := serve(h, "GET", c.edit)
			if rec.Code != c.status {
				t.Fatalf("status %d, want %d; body %s", rec.Code, c.status, rec.Body)
			}
			if got := rec.Header().Get("WWW-Authenticate"); got != c.challenge {
				t.Fatalf("WWW-Authenticate %q, want %q", got, c.challenge)
			}
			if c.status == 200 {
				if rec.Body.String() != "alice@"+testIssuer {
					t.Fatalf("body %q", rec.Body)
				}
				return
			}
			if got := problemType(t, rec); got != c.typ {
				t.Fatalf("problem type %q, want %q", got, c.typ)
			}
			if strings.Contains(rec.Body.String(), good[len(good)-10:]) {
				t.Fatal("the answer quotes the token")
			}
		})
	}
}

func TestRealmInChallenges(t *testing.T) {
	m := testMiddleware(t, Options{Realm: "orders"})
	rec := serve(m.Handler(whoami), "GET", nil)
	if got := rec.Header().Get("WWW-Authenticate"); got != `Bearer realm="orders"` {
		t.Fatalf("missing: %q", got)
	}
	rec = serve(m.Handler(whoami), "GET", bearer("x.y.z"))
	if got := rec.Header().Get("WWW-Authenticate"); !strings.HasPrefix(got, `Bearer realm="orders", error="invalid_token"`) {
		t.Fatalf("invalid: %q", got)
	}
	if _, err := New(testVerifier(t, clocktest.New(), nil), Options{Realm: `a"b`}); err == nil {
		t.Fatal("a realm with a quote was accepted")
	}
}

func TestAnonymousLetsMissingCredentialsThroughOnly(t *testing.T) {
	h := testMiddleware(t, Options{Anonymous: true}).Handler(whoami)
	if rec := serve(h, "GET", nil); rec.Code != 200 || rec.Body.String() != "anonymous" {
		t.Fatalf("no credentials: %d %s", rec.Code, rec.Body)
	}
	if rec := serve(h, "GET", bearer("x.y.z")); rec.Code != 401 {
		t.Fatalf("invalid token under Anonymous: %d, want 401", rec.Code)
	}
	if rec := serve(h, "GET", bearer(sign(t, "EdDSA", nil, goodClaims()))); rec.Body.String() != "alice@"+testIssuer {
		t.Fatalf("valid token under Anonymous: %s", rec.Body)
	}
}

// The example service's chain: read the token (never refusing), rate
// limit by principal or IP, then refuse.
func TestIdentifyThenRequire(t *testing.T) {
	m := testMiddleware(t, Options{})
	var seen []string
	limiter := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			key := "ip:" + r.RemoteAddr
			if p, ok := FromContext(r.Context()); ok {
				key = "principal:" + p.Issuer + "|" + p.Subject
			}
			seen = append(seen, key)
			next.ServeHTTP(w, r)
		})
	}
	h := m.Identify(limiter(m.Require(whoami)))
	for _, c := range []struct {
		edit   func(*http.Request)
		status int
		key    string
	}{
		{bearer(sign(t, "EdDSA", nil, goodClaims())), 200, "principal:" + testIssuer + "|alice"},
		{nil, 401, "ip:192.0.2.1:1234"},
		{bearer("x.y.z"), 401, "ip:192.0.2.1:1234"},
		{func(r *http.Request) { r.Header.Set("Authorization", "Bearer ") }, 400, "ip:192.0.2.1:1234"},
	} {
		seen = nil
		rec := serve(h, "GET", c.edit)
		if rec.Code != c.status || len(seen) != 1 || seen[0] != c.key {
			t.Fatalf("status %d, limiter saw %v; want %d and %s", rec.Code, seen, c.status, c.key)
		}
	}
	// Require alone authenticates by itself.
	if rec := serve(m.Require(whoami), "GET", bearer(sign(t, "EdDSA", nil, goodClaims()))); rec.Code != 200 {
		t.Fatalf("Require alone: %d", rec.Code)
	}
	if rec := serve(m.Require(whoami), "GET", nil); rec.Code != 401 {
		t.Fatalf("Require alone, no credentials: %d", rec.Code)
	}
}

func TestRequireScopes(t *testing.T) {
	m := testMiddleware(t, Options{})
	h := m.Handler(m.RequireScopes("orders:write", "orders:read")(whoami))
	if rec := serve(h, "POST", bearer(sign(t, "EdDSA", nil, goodClaims()))); rec.Code != 200 {
		t.Fatalf("both scopes: %d %s", rec.Code, rec.Body)
	}
	c := goodClaims()
	c["scope"] = "orders:read"
	rec := serve(h, "POST", bearer(sign(t, "EdDSA", nil, c)))
	if rec.Code != 403 || rec.Header().Get("WWW-Authenticate") != `Bearer error="insufficient_scope", scope="orders:write orders:read"` {
		t.Fatalf("missing scope: %d %q", rec.Code, rec.Header().Get("WWW-Authenticate"))
	}
	if got := problemType(t, rec); got != ErrInsufficientScope.URI {
		t.Fatalf("type %q", got)
	}
	// Without a principal, RequireScopes authenticates first.
	if rec := serve(m.RequireScopes("orders:read")(whoami), "GET", nil); rec.Code != 401 {
		t.Fatalf("no credentials: %d, want 401", rec.Code)
	}
}

func TestCookieCredentials(t *testing.T) {
	m := testMiddleware(t, Options{Cookie: "session"})
	h := m.Handler(whoami)
	good := sign(t, "EdDSA", nil, goodClaims())
	other := sign(t, "ES256", nil, goodClaims())
	cookie := func(v string) func(*http.Request) {
		return func(r *http.Request) { r.AddCookie(&http.Cookie{Name: "session", Value: v}) }
	}
	both := func(h, c string) func(*http.Request) {
		return func(r *http.Request) { bearer(h)(r); cookie(c)(r) }
	}
	crossSite := func(r *http.Request) { cookie(good)(r); r.Header.Set("Sec-Fetch-Site", "cross-site") }
	for name, c := range map[string]struct {
		method string
		edit   func(*http.Request)
		status int
	}{
		"cookie, GET":                        {"GET", cookie(good), 200},
		"cookie, same-origin POST":           {"POST", func(r *http.Request) { cookie(good)(r); r.Header.Set("Sec-Fetch-Site", "same-origin") }, 200},
		"cookie, cross-site POST (CSRF)":     {"POST", crossSite, 403},
		"cookie, cross-site GET":             {"GET", crossSite, 200},
		"header, cross-site POST":            {"POST", func(r *http.Request) { bearer(good)(r); r.Header.Set("Sec-Fetch-Site", "cross-site") }, 200},
		"header and cookie agree":            {"GET", both(good, good), 200},
		"header and cookie differ":           {"GET", both(good, other), 400},
		"invalid cookie":                     {"GET", cookie("x.y.z"), 401},
		"no cookie":                          {"GET", nil, 401},
		"cookie of another name is not read": {"GET", func(r *http.Request) { r.AddCookie(&http.Cookie{Name: "other", Value: good}) }, 401},
	} {
		if rec := serve(h, c.method, c.edit); rec.Code != c.status {
			t.Errorf("%s: %d, want %d (%s)", name, rec.Code, c.status, rec.Body)
		}
	}
	// With CookieSafeMethodsOnly, the cookie authenticates safe methods only.
	safe := testMiddleware(t, Options{Cookie: "session", CookieSafeMethodsOnly: true}).Handler(whoami)
	for name, c := range map[string]struct {
		method string
		edit   func(*http.Request)
		status int
	}{
		"cookie, GET":                        {"GET", cookie(good), 200},
		"cookie, HEAD":                       {"HEAD", cookie(good), 200},
		"cookie, same-origin POST":           {"POST", func(r *http.Request) { cookie(good)(r); r.Header.Set("Sec-Fetch-Site", "same-origin") }, 401},
		"cookie, POST without fetch headers": {"POST", cookie(good), 401},
		"header, POST":                       {"POST", bearer(good), 200},
		"header and another cookie, POST":    {"POST", both(good, other), 200},
	} {
		if rec := serve(safe, c.method, c.edit); rec.Code != c.status {
			t.Errorf("CookieSafeMethodsOnly, %s: %d, want %d (%s)", name, rec.Code, c.status, rec.Body)
		}
	}
	// Without Options.Cookie, cookies are ignored.
	if rec := serve(testMiddleware(t, Options{}).Handler(whoami), "GET", cookie(good)); rec.Code != 401 {
		t.Fatalf("cookie read without Options.Cookie: %d", rec.Code)
	}
}

func TestUnavailableKeysAre503(t *testing.T) {
	srv := jwksServer(t, func() []byte { return nil })
	j, _ := NewJWKS(srv.URL, JWKSOptions{})
	m, _ := New(jwksVerifier(t, j), Options{})
	rec := serve(m.Handler(whoami), "GET", bearer(sign(t, "EdDSA", nil, goodClaims())))
	if rec.Code != 503 || rec.Header().Get("Retry-After") == "" || problemType(t, rec) != ErrUnavailable.URI {
		t.Fatalf("%d %v %s", rec.Code, rec.Header(), rec.Body)
	}
}

func TestZeroMiddlewarePanicsAtWrapTime(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("Handler on a zero Middleware did not panic")
		}
	}()
	var m Middleware
	m.Handler(whoami)
}

func TestNewPanicsWithoutVerifier(t *testing.T) {
	defer func() {
		if r := recover(); r == nil || !strings.Contains(r.(string), "Verifier") {
			t.Fatalf("recover() = %v", r)
		}
	}()
	New(nil, Options{})
}

func TestErrorHandlerGetsTypedProblems(t *testing.T) {
	var got error
	m := testMiddleware(t, Options{ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
		got = err
		w.WriteHeader(418)
	}})
	serve(m.Handler(whoami), "GET", bearer("x.y.z"))
	if got == nil || !isType(got, ErrInvalidToken) {
		t.Fatalf("ErrorHandler got %v", got)
	}
}

func isType(err error, t interface{ Error() string }) bool {
	return err != nil && strings.Contains(err.Error(), t.Error())
}

func TestAuthenticateForAdapters(t *testing.T) {
	m := testMiddleware(t, Options{Anonymous: true})
	r := httptest.NewRequest("GET", "/", nil)
	if p, err := m.Authenticate(r); p != nil || err != nil {
		t.Fatalf("anonymous: %v %v", p, err)
	}
	bearer(sign(t, "EdDSA", nil, goodClaims()))(r)
	p, err := m.Authenticate(r)
	if err != nil || p.Subject != "alice" {
		t.Fatalf("valid: %v %v", p, err)
	}
	r = r.WithContext(NewContext(context.Background(), p))
	if p2, err := m.Required(r); p2 != p || err != nil {
		t.Fatalf("Required with a principal in the context: %v %v", p2, err)
	}
	if err := m.CheckScopes(r, p, "admin"); err == nil {
		t.Fatal("CheckScopes passed a missing scope")
	}
}

func TestWriteErrorAnswersThroughErrorHandler(t *testing.T) {
	var got error
	m := testMiddleware(t, Options{ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
		got = err
		w.WriteHeader(418)
	}})
	r := httptest.NewRequest("GET", "/", nil)
	_, err := m.Required(r)
	rec := httptest.NewRecorder()
	m.WriteError(rec, r, err)
	if rec.Code != 418 || got != err {
		t.Fatalf("WriteError wrote %d, handed %v", rec.Code, got)
	}

	m = testMiddleware(t, Options{})
	_, err = m.Required(r)
	rec = httptest.NewRecorder()
	m.WriteError(rec, r, err)
	if rec.Code != http.StatusUnauthorized || rec.Header().Get("WWW-Authenticate") != "Bearer" ||
		rec.Header().Get("Content-Type") != "application/problem+json" {
		t.Fatalf("default WriteError: %d %v", rec.Code, rec.Header())
	}
}

// resultCounter counts backstop.authn.requests by backstop.authn.result.
type resultCounter struct {
	metricnoop.MeterProvider
	mu     sync.Mutex
	counts map[string]int64
}

type resultMeter struct {
	metricnoop.Meter
	c *resultCounter
}

type resultInstrument struct {
	metricnoop.Int64Counter
	c *resultCounter
}

func (c *resultCounter) Meter(string, ...metric.MeterOption) metric.Meter { return resultMeter{c: c} }

func (m resultMeter) Int64Counter(string, ...metric.Int64CounterOption) (metric.Int64Counter, error) {
	return resultInstrument{c: m.c}, nil
}

func (i resultInstrument) Add(_ context.Context, n int64, opts ...metric.AddOption) {
	set := metric.NewAddConfig(opts).Attributes()
	v, _ := set.Value("backstop.authn.result")
	i.c.mu.Lock()
	defer i.c.mu.Unlock()
	if i.c.counts == nil {
		i.c.counts = map[string]int64{}
	}
	i.c.counts[v.AsString()] += n
}

// The documented chain Identify → limiter → Require counts every decision
// once, as Handler does: the authenticated ones included.
func TestIdentifyThenRequireCountsEachDecisionOnce(t *testing.T) {
	counter := &resultCounter{}
	m := testMiddleware(t, Options{MeterProvider: counter})
	h := m.Identify(m.Require(whoami))
	if rec := serve(h, "GET", bearer(sign(t, "EdDSA", nil, goodClaims()))); rec.Code != 200 {
		t.Fatalf("valid token: %d", rec.Code)
	}
	if rec := serve(h, "GET", bearer("x.y.z")); rec.Code != 401 {
		t.Fatalf("invalid token: %d", rec.Code)
	}
	if rec := serve(h, "GET", nil); rec.Code != 401 {
		t.Fatalf("no token: %d", rec.Code)
	}
	want := map[string]int64{"authenticated": 1, "invalid": 1, "missing": 1}
	counter.mu.Lock()
	defer counter.mu.Unlock()
	if !maps.Equal(counter.counts, want) {
		t.Fatalf("backstop.authn.requests by result: %v, want %v", counter.counts, want)
	}
}
