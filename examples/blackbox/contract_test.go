package blackbox

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// TestContract runs every route and failure path of the contract against
// every variant, with each backend.
func TestContract(t *testing.T) {
	forEachVariant(t, func(t *testing.T, variant string) {
		for _, b := range backends {
			t.Run(b.name, func(t *testing.T) {
				key := newSigningKey(t)
				env := b.env(t)
				if env == nil {
					env = map[string]string{}
				}
				env["AUTH_SIGNING_KEY_FILE"] = key.file
				s := startService(t, variant, env)
				c := contract{s: s, key: key}
				t.Run("health", c.health)
				t.Run("jwks", c.jwks)
				t.Run("users", c.users)
				t.Run("tokens", c.tokens)
				t.Run("create order", c.createOrder)
				t.Run("idempotency", c.idempotency)
				t.Run("list orders", c.listOrders)
				t.Run("get order", c.getOrder)
				t.Run("authentication", c.authentication)
				t.Run("rate limit headers", c.rateLimitHeaders)
				t.Run("logs", c.logs)
			})
		}
	})
}

type contract struct {
	s   *service
	key signingKey
}

func (c contract) health(t *testing.T) {
	for _, path := range []string{"/livez", "/readyz"} {
		r := c.s.do(t, req{method: "GET", path: path})
		if r.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d %s", path, r.StatusCode, r.body)
		}
		if mt := strings.Split(r.Header.Get("Content-Type"), ";")[0]; mt != "application/health+json" {
			t.Errorf("GET %s: Content-Type %q", path, r.Header.Get("Content-Type"))
		}
		if !strings.Contains(r.Header.Get("Cache-Control"), "no-store") {
			t.Errorf("GET %s: Cache-Control %q", path, r.Header.Get("Cache-Control"))
		}
		if st := r.json(t)["status"]; st != "pass" {
			t.Errorf("GET %s: status %v: %s", path, st, r.body)
		}
	}
}

func (c contract) jwks(t *testing.T) {
	r := c.s.do(t, req{method: "GET", path: "/.well-known/jwks.json"})
	if r.StatusCode != http.StatusOK {
		t.Fatalf("GET jwks: %d", r.StatusCode)
	}
	var set struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal(r.body, &set); err != nil || len(set.Keys) == 0 {
		t.Fatalf("JWKS %v: %s", err, r.body)
	}
	k := set.Keys[0]
	if k["kty"] != "OKP" || k["crv"] != "Ed25519" || k["kid"] == nil || k["x"] == nil {
		t.Errorf("JWKS key %v, want an Ed25519 OKP key with kid", k)
	}
	if _, ok := k["d"]; ok {
		t.Fatalf("JWKS publishes a private key")
	}
}

func (c contract) users(t *testing.T) {
	email := "new" + randomHex(6) + "@example.com"
	r := c.s.do(t, req{method: "POST", path: "/v1/users",
		body: fmt.Sprintf(`{"email":%q,"password":"twelve chars!","name":"Ann"}`, email)})
	if r.StatusCode != http.StatusCreated {
		t.Fatalf("create user: %d %s", r.StatusCode, r.body)
	}
	u := r.json(t)
	if u["id"] == nil || u["email"] != email || u["name"] != "Ann" {
		t.Errorf("user %s", r.body)
	}
	if _, ok := u["password"]; ok || strings.Contains(string(r.body), "twelve") {
		t.Errorf("the response carries the password: %s", r.body)
	}
	// The email exists.
	r = c.s.do(t, req{method: "POST", path: "/v1/users",
		body: fmt.Sprintf(`{"email":%q,"password":"another password","name":"Bob"}`, email)})
	wantProblem(t, r, http.StatusConflict)

	for _, tc := range []struct {
		name, body string
		pointers   []string
	}{
		{"bad email", `{"email":"not-an-email","password":"twelve chars!","name":"A"}`, []string{"#/email"}},
		{"short password", `{"email":"a@example.com","password":"elevenchars","name":"A"}`, []string{"#/password"}},
		{"no name", `{"email":"a@example.com","password":"twelve chars!"}`, []string{"#/name"}},
		{"all wrong", `{"email":"x","password":"short","name":""}`, []string{"#/email", "#/password", "#/name"}},
		{"wrong type", `{"email":"a@example.com","password":"twelve chars!","name":5}`, []string{"#/name"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := c.s.do(t, req{method: "POST", path: "/v1/users", body: tc.body})
			wantPointers(t, r, tc.pointers...)
			if strings.Contains(string(r.body), "not-an-email") || strings.Contains(string(r.body), "elevenchars") {
				t.Errorf("a submitted value is echoed: %s", r.body)
			}
		})
	}
	r = c.s.do(t, req{method: "POST", path: "/v1/users", body: `{"email":`})
	wantProblem(t, r, http.StatusBadRequest)
	r = c.s.do(t, req{method: "POST", path: "/v1/users", body: `hello`})
	wantProblem(t, r, http.StatusBadRequest)
}

func (c contract) tokens(t *testing.T) {
	a := c.s.register(t)
	r := c.s.do(t, req{method: "POST", path: "/v1/tokens", body: fmt.Sprintf(`{"email":%q,"password":%q}`, a.email, a.password)})
	if r.StatusCode != http.StatusOK {
		t.Fatalf("token: %d %s", r.StatusCode, r.body)
	}
	var tok struct {
		AccessToken string  `json:"access_token"`
		TokenType   string  `json:"token_type"`
		ExpiresIn   float64 `json:"expires_in"`
	}
	if err := json.Unmarshal(r.body, &tok); err != nil {
		t.Fatal(err)
	}
	if tok.AccessToken == "" || tok.TokenType != "Bearer" || tok.ExpiresIn <= 0 {
		t.Errorf("token response %s", r.body)
	}
	claims := jwt.MapClaims{}
	if _, _, err := jwt.NewParser().ParseUnverified(tok.AccessToken, claims); err != nil {
		t.Fatalf("access_token is not a JWT: %v", err)
	}
	if scope, _ := claims["scope"].(string); !slices.Contains(strings.Fields(scope), "orders:read") || !slices.Contains(strings.Fields(scope), "orders:write") {
		t.Errorf("token scope %q", claims["scope"])
	}
	var session *http.Cookie
	for _, ck := range r.Cookies() {
		if ck.Value != "" {
			session = ck
		}
	}
	if session == nil {
		t.Fatalf("no session cookie: %v", r.Header["Set-Cookie"])
	}
	if !session.HttpOnly || session.SameSite != http.SameSiteLaxMode {
		t.Errorf("session cookie %q: want HttpOnly and SameSite=Lax", r.Header.Get("Set-Cookie"))
	}
	if session.Secure {
		t.Errorf("session cookie is Secure although COOKIE_SECURE=false")
	}

	// Unknown email and wrong password answer alike.
	unknown := c.s.do(t, req{method: "POST", path: "/v1/tokens", body: `{"email":"nobody-` + randomHex(4) + `@example.com","password":"whatever password"}`})
	wrong := c.s.do(t, req{method: "POST", path: "/v1/tokens", body: fmt.Sprintf(`{"email":%q,"password":"wrong password!"}`, a.email)})
	pu, pw := wantProblem(t, unknown, http.StatusUnauthorized), wantProblem(t, wrong, http.StatusUnauthorized)
	for _, m := range []map[string]any{pu, pw} {
		for _, k := range []string{"instance", "traceId", "trace_id", "requestId", "request_id"} {
			delete(m, k)
		}
	}
	bu, _ := json.Marshal(pu)
	bw, _ := json.Marshal(pw)
	if string(bu) != string(bw) {
		t.Errorf("unknown email and wrong password differ:\n%s\n%s", unknown.body, wrong.body)
	}
}

func (c contract) createOrder(t *testing.T) {
	a := c.s.register(t)
	r := c.s.createOrder(t, a.token, "green tea", 3)
	if r.StatusCode != http.StatusCreated {
		t.Fatalf("create: %d %s", r.StatusCode, r.body)
	}
	o := decodeOrder(t, r)
	if o.id() == "" || o.Item != "green tea" || o.Quantity != 3 {
		t.Errorf("order %s", r.body)
	}
	if !createdAtForm.MatchString(o.CreatedAt) {
		t.Errorf("created_at %q is not RFC 3339 UTC with microseconds", o.CreatedAt)
	}
	loc := r.Header.Get("Location")
	if loc == "" || !strings.HasSuffix(loc, "/v1/orders/"+o.id()) {
		t.Errorf("Location %q for order %s", loc, o.id())
	}
	// created_at is identical in every later read.
	g := c.s.do(t, req{method: "GET", path: "/v1/orders/" + o.id(), token: a.token})
	if g.StatusCode != http.StatusOK || decodeOrder(t, g).CreatedAt != o.CreatedAt {
		t.Errorf("GET order: %d %s, created %s", g.StatusCode, g.body, o.CreatedAt)
	}

	// Item length counts characters: 100 two-byte characters are fine.
	if r := c.s.createOrder(t, a.token, strings.Repeat("é", 100), 1); r.StatusCode != http.StatusCreated {
		t.Errorf("100 characters (200 bytes): %d %s", r.StatusCode, r.body)
	}
	for _, tc := range []struct {
		name, body string
		pointers   []string
	}{
		{"empty item", `{"item":"","quantity":1}`, []string{"#/item"}},
		{"101 characters", `{"item":"` + strings.Repeat("a", 101) + `","quantity":1}`, []string{"#/item"}},
		{"quantity 0", `{"item":"x","quantity":0}`, []string{"#/quantity"}},
		{"quantity 1001", `{"item":"x","quantity":1001}`, []string{"#/quantity"}},
		{"quantity as string", `{"item":"x","quantity":"5"}`, []string{"#/quantity"}},
		{"missing both", `{}`, []string{"#/item", "#/quantity"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := c.s.do(t, req{method: "POST", path: "/v1/orders", token: a.token,
				header: map[string]string{"Idempotency-Key": randomHex(16)}, body: tc.body})
			wantPointers(t, r, tc.pointers...)
		})
	}
	r = c.s.do(t, req{method: "POST", path: "/v1/orders", token: a.token,
		header: map[string]string{"Idempotency-Key": randomHex(16)}, body: `{"item":`})
	wantProblem(t, r, http.StatusBadRequest)
	// A missing key is 400.
	r = c.s.do(t, req{method: "POST", path: "/v1/orders", token: a.token, body: `{"item":"x","quantity":1}`})
	wantProblem(t, r, http.StatusBadRequest)
}

func (c contract) idempotency(t *testing.T) {
	a := c.s.register(t)
	key := randomHex(16)
	body := `{"item":"espresso","quantity":2}`
	first := c.s.do(t, req{method: "POST", path: "/v1/orders", token: a.token, header: map[string]string{"Idempotency-Key": key}, body: body})
	if first.StatusCode != http.StatusCreated {
		t.Fatalf("first: %d %s", first.StatusCode, first.body)
	}
	replay := c.s.do(t, req{method: "POST", path: "/v1/orders", token: a.token, header: map[string]string{"Idempotency-Key": key}, body: body})
	if replay.StatusCode != http.StatusCreated || string(replay.body) != string(first.body) {
		t.Fatalf("replay: %d %s, want the first response %s", replay.StatusCode, replay.body, first.body)
	}
	if replay.Header.Get("Idempotent-Replayed") != "true" {
		t.Errorf("replay lacks Idempotent-Replayed: true: %v", replay.Header)
	}
	for _, h := range []string{"Location", "Content-Type"} {
		if replay.Header.Get(h) != first.Header.Get(h) {
			t.Errorf("replay %s %q, first %q", h, replay.Header.Get(h), first.Header.Get(h))
		}
	}
	// The same key with another body.
	r := c.s.do(t, req{method: "POST", path: "/v1/orders", token: a.token, header: map[string]string{"Idempotency-Key": key}, body: `{"item":"espresso","quantity":3}`})
	wantProblem(t, r, http.StatusUnprocessableEntity)

	// A quoted key (a structured-field string) works as well as a bare one.
	r = c.s.do(t, req{method: "POST", path: "/v1/orders", token: a.token, header: map[string]string{"Idempotency-Key": `"` + randomHex(16) + `"`}, body: body})
	if r.StatusCode != http.StatusCreated {
		t.Errorf("quoted key: %d %s", r.StatusCode, r.body)
	}

	// Many copies of one request at once: one order, every answer the order
	// or a 409 with Retry-After in seconds.
	key = randomHex(16)
	body = `{"item":"storm","quantity":1}`
	var wg sync.WaitGroup
	results := make([]*response, 20)
	for i := range results {
		wg.Go(func() {
			results[i] = c.s.do(t, req{method: "POST", path: "/v1/orders", token: a.token, header: map[string]string{"Idempotency-Key": key}, body: body})
		})
	}
	wg.Wait()
	ids := map[string]bool{}
	for _, r := range results {
		switch r.StatusCode {
		case http.StatusCreated:
			ids[decodeOrder(t, r).id()] = true
		case http.StatusConflict:
			wantProblem(t, r, http.StatusConflict)
			wantRetryAfterSeconds(t, r)
		default:
			t.Errorf("concurrent copy: %d %s", r.StatusCode, r.body)
		}
	}
	if len(ids) != 1 {
		t.Errorf("%d concurrent copies of one request created orders %v, want exactly one", len(results), ids)
	}
}

func (c contract) listOrders(t *testing.T) {
	a, other := c.s.register(t), c.s.register(t)
	var created []order
	for i := range 5 {
		r := c.s.createOrder(t, a.token, fmt.Sprintf("item %d", i), i+1)
		if r.StatusCode != http.StatusCreated {
			t.Fatalf("create: %d %s", r.StatusCode, r.body)
		}
		created = append(created, decodeOrder(t, r))
	}
	if r := c.s.createOrder(t, other.token, "not yours", 1); r.StatusCode != http.StatusCreated {
		t.Fatalf("create: %d %s", r.StatusCode, r.body)
	}

	// Default limit: everything, newest first.
	p := decodePage(t, c.s.do(t, req{method: "GET", path: "/v1/orders", token: a.token}))
	if len(p.Data) != 5 || p.HasMore || p.NextCursor != nil {
		t.Fatalf("default page: %d orders, has_more %v, next %v", len(p.Data), p.HasMore, p.NextCursor)
	}
	for i, o := range p.Data {
		if want := created[len(created)-1-i]; o.id() != want.id() || o.CreatedAt != want.CreatedAt {
			t.Errorf("order %d is %s (%s), want %s: newest first", i, o.id(), o.CreatedAt, want.id())
		}
	}

	// Pages of two, following next_cursor; Link rel="next" exactly when has_more.
	var seen []string
	path := "/v1/orders?limit=2"
	for pages := 0; ; pages++ {
		if pages > 5 {
			t.Fatal("pagination does not end")
		}
		r := c.s.do(t, req{method: "GET", path: path, token: a.token})
		p := decodePage(t, r)
		for _, o := range p.Data {
			seen = append(seen, o.id())
		}
		link := r.Header.Get("Link")
		if p.HasMore != strings.Contains(link, `rel="next"`) {
			t.Errorf("has_more %v but Link %q", p.HasMore, link)
		}
		if !p.HasMore {
			if p.NextCursor != nil {
				t.Errorf("last page has next_cursor %q", *p.NextCursor)
			}
			break
		}
		if p.NextCursor == nil || len(p.Data) != 2 {
			t.Fatalf("page with has_more: %d orders, next %v", len(p.Data), p.NextCursor)
		}
		path = "/v1/orders?limit=2&cursor=" + url.QueryEscape(*p.NextCursor)
	}
	var want []string
	for i := len(created) - 1; i >= 0; i-- {
		want = append(want, created[i].id())
	}
	if !slices.Equal(seen, want) {
		t.Errorf("pages gave %v, want %v", seen, want)
	}

	// The other caller sees only their own.
	if p := decodePage(t, c.s.do(t, req{method: "GET", path: "/v1/orders", token: other.token})); len(p.Data) != 1 {
		t.Errorf("other caller sees %d orders, want 1", len(p.Data))
	}

	for _, q := range []string{"limit=0", "limit=101", "limit=abc", "limit=-1", "limit=1.5", "cursor=garbage"} {
		r := c.s.do(t, req{method: "GET", path: "/v1/orders?" + q, token: a.token})
		wantProblem(t, r, http.StatusBadRequest)
	}
	// A tampered cursor.
	r := c.s.do(t, req{method: "GET", path: "/v1/orders?limit=1", token: a.token})
	cur := *decodePage(t, r).NextCursor
	b := []byte(cur)
	i := len(b) / 2
	if b[i] == 'A' {
		b[i] = 'B'
	} else {
		b[i] = 'A'
	}
	r = c.s.do(t, req{method: "GET", path: "/v1/orders?limit=1&cursor=" + url.QueryEscape(string(b)), token: a.token})
	wantProblem(t, r, http.StatusBadRequest)
	if r := c.s.do(t, req{method: "GET", path: "/v1/orders?limit=100", token: a.token}); r.StatusCode != http.StatusOK {
		t.Errorf("limit=100: %d", r.StatusCode)
	}
}

func (c contract) getOrder(t *testing.T) {
	a, other := c.s.register(t), c.s.register(t)
	o := decodeOrder(t, c.s.createOrder(t, a.token, "mine", 1))
	r := c.s.do(t, req{method: "GET", path: "/v1/orders/" + o.id(), token: a.token})
	if r.StatusCode != http.StatusOK || decodeOrder(t, r).id() != o.id() {
		t.Fatalf("GET own order: %d %s", r.StatusCode, r.body)
	}
	wantProblem(t, c.s.do(t, req{method: "GET", path: "/v1/orders/" + o.id(), token: other.token}), http.StatusNotFound)
	wantProblem(t, c.s.do(t, req{method: "GET", path: "/v1/orders/999999999", token: a.token}), http.StatusNotFound)
	wantProblem(t, c.s.do(t, req{method: "GET", path: "/v1/orders/not-an-id", token: a.token}), http.StatusNotFound)
}

func (c contract) authentication(t *testing.T) {
	a := c.s.register(t)
	kid := c.s.jwksKid(t)
	sub := strings.Trim(a.id, `"`)

	// No credentials: 401 with a bare Bearer challenge.
	r := c.s.do(t, req{method: "GET", path: "/v1/orders"})
	wantProblem(t, r, http.StatusUnauthorized)
	if ch := r.Header.Get("WWW-Authenticate"); !strings.HasPrefix(ch, "Bearer") || strings.Contains(ch, "error=") {
		t.Errorf("missing credentials: WWW-Authenticate %q, want a bare Bearer challenge", ch)
	}
	// Invalid tokens: 401 invalid_token.
	expired := localClaims(sub, "orders:read orders:write")
	expired["exp"] = time.Now().Add(-time.Hour).Unix()
	expired["iat"] = time.Now().Add(-2 * time.Hour).Unix()
	wrongAud := localClaims(sub, "orders:read orders:write")
	wrongAud["aud"] = "someone-else"
	wrongIss := localClaims(sub, "orders:read orders:write")
	wrongIss["iss"] = "https://evil.example"
	for name, tok := range map[string]string{
		"garbage":        "not.a.token",
		"expired":        c.key.mint(t, kid, expired),
		"wrong audience": c.key.mint(t, kid, wrongAud),
		"wrong issuer":   c.key.mint(t, kid, wrongIss),
		"alg none":       unsignedToken(localClaims(sub, "orders:read orders:write")),
	} {
		r := c.s.do(t, req{method: "GET", path: "/v1/orders", token: tok})
		wantProblem(t, r, http.StatusUnauthorized)
		if ch := r.Header.Get("WWW-Authenticate"); !strings.Contains(ch, `error="invalid_token"`) {
			t.Errorf("%s: WWW-Authenticate %q, want invalid_token", name, ch)
		}
	}
	// Missing scope: 403 insufficient_scope.
	readOnly := c.key.mint(t, kid, localClaims(sub, "orders:read"))
	if r := c.s.do(t, req{method: "GET", path: "/v1/orders", token: readOnly}); r.StatusCode != http.StatusOK {
		t.Errorf("orders:read token on GET: %d %s", r.StatusCode, r.body)
	}
	r = c.s.do(t, req{method: "POST", path: "/v1/orders", token: readOnly, header: map[string]string{"Idempotency-Key": randomHex(16)}, body: `{"item":"x","quantity":1}`})
	wantProblem(t, r, http.StatusForbidden)
	if ch := r.Header.Get("WWW-Authenticate"); !strings.Contains(ch, `error="insufficient_scope"`) {
		t.Errorf("insufficient scope: WWW-Authenticate %q", ch)
	}
	// A token with typ at+jwt is accepted.
	tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, localClaims(sub, "orders:read"))
	tok.Header["kid"], tok.Header["typ"] = kid, "at+jwt"
	atjwt, _ := tok.SignedString(c.key.priv)
	if r := c.s.do(t, req{method: "GET", path: "/v1/orders", token: atjwt}); r.StatusCode != http.StatusOK {
		t.Errorf("typ at+jwt: %d %s", r.StatusCode, r.body)
	}

	// The session cookie is a credential for GET, not for POST.
	login := c.s.do(t, req{method: "POST", path: "/v1/tokens", body: fmt.Sprintf(`{"email":%q,"password":%q}`, a.email, a.password)})
	var cookie string
	for _, ck := range login.Cookies() {
		cookie = ck.Name + "=" + ck.Value
	}
	if r := c.s.do(t, req{method: "GET", path: "/v1/orders", header: map[string]string{"Cookie": cookie}}); r.StatusCode != http.StatusOK {
		t.Errorf("GET with the session cookie: %d %s", r.StatusCode, r.body)
	}
	r = c.s.do(t, req{method: "POST", path: "/v1/orders", header: map[string]string{"Cookie": cookie, "Idempotency-Key": randomHex(16)}, body: `{"item":"csrf","quantity":1}`})
	wantProblem(t, r, http.StatusUnauthorized)
	// The token is never read from the query string.
	r = c.s.do(t, req{method: "GET", path: "/v1/orders?access_token=" + a.token})
	wantProblem(t, r, http.StatusUnauthorized)
}

// unsignedToken returns claims as a JWT with alg "none".
func unsignedToken(claims jwt.MapClaims) string {
	s, _ := jwt.NewWithClaims(jwt.SigningMethodNone, claims).SignedString(jwt.UnsafeAllowNoneSignatureType)
	return s
}

func (c contract) rateLimitHeaders(t *testing.T) {
	a := c.s.register(t)
	for _, r := range []*response{
		c.s.do(t, req{method: "GET", path: "/v1/orders", token: a.token}),
		c.s.do(t, req{method: "GET", path: "/v1/orders"}),                     // 401
		c.s.do(t, req{method: "GET", path: "/v1/orders", token: "bad.token"}), // 401
		c.s.do(t, req{method: "GET", path: "/v1/orders/424242", token: a.token}),
		c.s.createOrder(t, a.token, "headers", 1),
		c.s.do(t, req{method: "POST", path: "/v1/users", body: `{}`}),
		c.s.do(t, req{method: "POST", path: "/v1/tokens", body: `{"email":"x@example.com","password":"nope nope nope"}`}),
	} {
		wantRateLimitHeaders(t, r)
	}
}

func (c contract) logs(t *testing.T) {
	a := c.s.register(t)
	key := randomHex(16)
	c.s.do(t, req{method: "POST", path: "/v1/orders", token: a.token, header: map[string]string{"Idempotency-Key": key}, body: `{"item":"log me","quantity":1}`})
	c.s.do(t, req{method: "GET", path: "/v1/orders", token: "bad.token"})
	// A request's line may be written just after its response.
	eventually(t, 30*time.Second, "a log line about a request", func() bool {
		return countRequestLines(c.s.logs.lines()) > 0
	})
	lines := c.s.logs.lines()
	requests := 0
	for _, line := range lines {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Errorf("log line is not one JSON object: %q", line)
			continue
		}
		if isRequestLine(rec) {
			requests++
			if id, _ := rec["trace_id"].(string); len(id) != 32 {
				t.Errorf("request log line without a trace_id: %s", line)
			}
		}
	}
	if requests == 0 {
		t.Errorf("no log line about a request (with method or path) among %d lines", len(lines))
	}
	out := c.s.logs.String()
	for name, secret := range map[string]string{"password": a.password, "token": a.token, "idempotency key": key, "invalid token": "bad.token"} {
		if strings.Contains(out, secret) {
			t.Errorf("the logs contain the %s in clear", name)
		}
	}
}

func isRequestLine(rec map[string]any) bool {
	for _, k := range []string{"method", "path", "http.request.method", "url.path"} {
		if _, ok := rec[k]; ok {
			return true
		}
	}
	return false
}

func countRequestLines(lines []string) int {
	n := 0
	for _, line := range lines {
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) == nil && isRequestLine(rec) {
			n++
		}
	}
	return n
}
