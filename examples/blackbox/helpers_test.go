package blackbox

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// wantProblem checks that r is an RFC 9457 problem with the given status
// and returns its members.
func wantProblem(t *testing.T, r *response, status int) map[string]any {
	t.Helper()
	if r.StatusCode != status {
		t.Fatalf("%s %s: status %d, want %d: %s", r.Request.Method, r.Request.URL, r.StatusCode, status, r.body)
	}
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt != "application/problem+json" {
		t.Fatalf("%s %s: Content-Type %q, want application/problem+json", r.Request.Method, r.Request.URL, r.Header.Get("Content-Type"))
	}
	p := r.json(t)
	if typ, ok := p["type"].(string); !ok || typ == "" {
		t.Errorf("problem without a type: %s", r.body)
	}
	if title, ok := p["title"].(string); !ok || title == "" {
		t.Errorf("problem without a title: %s", r.body)
	}
	if st, ok := p["status"].(float64); !ok || int(st) != status {
		t.Errorf("problem status member %v, want %d: %s", p["status"], status, r.body)
	}
	return p
}

// wantPointers checks that a 422 problem points at exactly the given JSON
// Pointers (in any order).
func wantPointers(t *testing.T, r *response, pointers ...string) {
	t.Helper()
	p := wantProblem(t, r, http.StatusUnprocessableEntity)
	errs, ok := p["errors"].([]any)
	if !ok || len(errs) == 0 {
		t.Fatalf("422 without errors[]: %s", r.body)
	}
	got := map[string]bool{}
	for _, e := range errs {
		m, _ := e.(map[string]any)
		ptr, _ := m["pointer"].(string)
		if !strings.HasPrefix(ptr, "#") {
			t.Errorf("pointer %q is not a URI-fragment JSON Pointer", ptr)
		}
		got[ptr] = true
	}
	for _, want := range pointers {
		if !got[want] {
			t.Errorf("errors[] lacks pointer %q: %s", want, r.body)
		}
	}
	if len(got) != len(pointers) {
		t.Errorf("errors[] points at %v, want exactly %v", got, pointers)
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// account is a registered user with a token.
type account struct {
	id       string // the "id" member as JSON text
	email    string
	password string
	token    string
}

// register creates a user and logs in.
func (s *service) register(t *testing.T) account {
	t.Helper()
	a := account{email: "u" + randomHex(6) + "@example.com", password: "correct horse " + randomHex(4)}
	r := s.do(t, req{method: "POST", path: "/v1/users",
		body: fmt.Sprintf(`{"email":%q,"password":%q,"name":"Test User"}`, a.email, a.password)})
	if r.StatusCode != http.StatusCreated {
		t.Fatalf("POST /v1/users: %d %s", r.StatusCode, r.body)
	}
	var u struct {
		ID json.RawMessage `json:"id"`
	}
	_ = json.Unmarshal(r.body, &u)
	a.id = string(u.ID)
	a.token = s.login(t, a.email, a.password)
	return a
}

func (s *service) login(t *testing.T, email, password string) string {
	t.Helper()
	r := s.do(t, req{method: "POST", path: "/v1/tokens", body: fmt.Sprintf(`{"email":%q,"password":%q}`, email, password)})
	if r.StatusCode != http.StatusOK {
		t.Fatalf("POST /v1/tokens: %d %s", r.StatusCode, r.body)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(r.body, &tok); err != nil || tok.AccessToken == "" {
		t.Fatalf("POST /v1/tokens: no access_token: %s", r.body)
	}
	return tok.AccessToken
}

// createOrder posts an order with a fresh idempotency key and returns the
// response.
func (s *service) createOrder(t *testing.T, token, item string, quantity int) *response {
	t.Helper()
	return s.do(t, req{method: "POST", path: "/v1/orders", token: token,
		header: map[string]string{"Idempotency-Key": randomHex(16)},
		body:   fmt.Sprintf(`{"item":%q,"quantity":%d}`, item, quantity)})
}

// order is the JSON form of an order.
type order struct {
	ID        json.RawMessage `json:"id"`
	Item      string          `json:"item"`
	Quantity  int             `json:"quantity"`
	CreatedAt string          `json:"created_at"`
}

func (o order) id() string { return strings.Trim(string(o.ID), `"`) }

func decodeOrder(t *testing.T, r *response) order {
	t.Helper()
	var o order
	if err := json.Unmarshal(r.body, &o); err != nil {
		t.Fatalf("order: %v: %s", err, r.body)
	}
	return o
}

// createdAtForm is RFC 3339 in UTC with exactly microsecond precision.
var createdAtForm = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$`)

// page is the JSON form of a list of orders.
type page struct {
	Data       []order `json:"data"`
	NextCursor *string `json:"next_cursor"`
	HasMore    bool    `json:"has_more"`
}

func decodePage(t *testing.T, r *response) page {
	t.Helper()
	if r.StatusCode != http.StatusOK {
		t.Fatalf("list: %d %s", r.StatusCode, r.body)
	}
	var p page
	if err := json.Unmarshal(r.body, &p); err != nil {
		t.Fatalf("page: %v: %s", err, r.body)
	}
	var raw map[string]json.RawMessage
	_ = json.Unmarshal(r.body, &raw)
	for _, k := range []string{"data", "next_cursor", "has_more"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("page lacks %q: %s", k, r.body)
		}
	}
	return p
}

// jwksKid returns the kid of the service's first published key.
func (s *service) jwksKid(t *testing.T) string {
	t.Helper()
	r := s.do(t, req{method: "GET", path: "/.well-known/jwks.json"})
	var set struct {
		Keys []struct {
			Kid string `json:"kid"`
		} `json:"keys"`
	}
	if err := json.Unmarshal(r.body, &set); err != nil || len(set.Keys) == 0 {
		t.Fatalf("JWKS: %v: %s", err, r.body)
	}
	return set.Keys[0].Kid
}

// mint signs claims with the service's own key, as the service would.
func (k signingKey) mint(t *testing.T, kid string, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, claims)
	tok.Header["kid"] = kid
	s, err := tok.SignedString(k.priv)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// localClaims are the claims of a token the service would issue for sub.
func localClaims(sub string, scope string) jwt.MapClaims {
	now := time.Now()
	return jwt.MapClaims{
		"iss":   "backstop-example",
		"aud":   "orders",
		"sub":   sub,
		"scope": scope,
		"iat":   now.Unix(),
		"exp":   now.Add(10 * time.Minute).Unix(),
		"jti":   randomHex(8),
	}
}

// sfItem is one member of a structured-field list: its bare value and its
// parameters.
type sfItem struct {
	value  string
	params map[string]string
}

// parseSFList parses the structured-field lists of RateLimit-Policy and
// RateLimit (RFC 9651) as far as this suite needs: quoted-string or token
// items with parameters.
func parseSFList(t *testing.T, field string) []sfItem {
	t.Helper()
	var items []sfItem
	for _, part := range splitOutsideQuotes(field, ',') {
		part = strings.TrimSpace(part)
		if part == "" {
			t.Fatalf("empty list member in %q", field)
		}
		segs := splitOutsideQuotes(part, ';')
		it := sfItem{value: strings.TrimSpace(segs[0]), params: map[string]string{}}
		for _, p := range segs[1:] {
			k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
			it.params[k] = v
		}
		items = append(items, it)
	}
	return items
}

func splitOutsideQuotes(s string, sep byte) []string {
	var out []string
	start, quoted := 0, false
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '\\' && quoted:
			i++
		case s[i] == '"':
			quoted = !quoted
		case s[i] == sep && !quoted:
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

// wantRateLimitHeaders checks the IETF headers on a /v1 response.
func wantRateLimitHeaders(t *testing.T, r *response) {
	t.Helper()
	pol, rl := r.Header.Get("RateLimit-Policy"), r.Header.Get("RateLimit")
	if pol == "" || rl == "" {
		t.Fatalf("%s %s (%d) lacks RateLimit-Policy/RateLimit: %v", r.Request.Method, r.Request.URL.Path, r.StatusCode, r.Header)
	}
	for _, it := range parseSFList(t, pol) {
		for _, p := range []string{"q", "w"} {
			if _, err := strconv.Atoi(it.params[p]); err != nil {
				t.Errorf("RateLimit-Policy item %q lacks integer %s: %q", it.value, p, pol)
			}
		}
	}
	for _, it := range parseSFList(t, rl) {
		for _, p := range []string{"r", "t"} {
			if _, err := strconv.Atoi(it.params[p]); err != nil {
				t.Errorf("RateLimit item %q lacks integer %s: %q", it.value, p, rl)
			}
		}
	}
}

// wantRetryAfterSeconds checks that Retry-After is delay-seconds.
func wantRetryAfterSeconds(t *testing.T, r *response) int {
	t.Helper()
	v := r.Header.Get("Retry-After")
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		t.Fatalf("%d response: Retry-After %q is not delay-seconds", r.StatusCode, v)
	}
	return n
}
