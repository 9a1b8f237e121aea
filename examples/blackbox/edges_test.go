package blackbox

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/backstop-go/backstop/examples/internal/pgtest"
)

// TestNULInTextIsA422 sends strings holding U+0000, which PostgreSQL's
// text cannot store: every store answers a rule broken with the same 422
// (a login with such an email is the usual 401), never a 500.
func TestNULInTextIsA422(t *testing.T) {
	forEachVariant(t, func(t *testing.T, variant string) {
		for _, b := range []backend{
			{"memory", func(*testing.T) map[string]string { return nil }},
			{"postgres", func(t *testing.T) map[string]string {
				return map[string]string{"DATABASE_URL": pgtest.Database(t)}
			}},
		} {
			t.Run(b.name, func(t *testing.T) {
				s := startService(t, variant, b.env(t))
				a := s.register(t)
				for _, tc := range []struct {
					name, path, body string
					pointers         []string
				}{
					{"user name", "/v1/users", `{"email":"nul-` + randomHex(4) + `@example.com","password":"twelve chars!","name":"A\u0000n"}`, []string{"#/name"}},
					{"user email", "/v1/users", `{"email":"nul\u0000-` + randomHex(4) + `@example.com","password":"twelve chars!","name":"Ann"}`, []string{"#/email"}},
					{"order item", "/v1/orders", `{"item":"t\u0000a","quantity":1}`, []string{"#/item"}},
				} {
					t.Run(tc.name, func(t *testing.T) {
						r := s.do(t, req{method: "POST", path: tc.path, token: a.token,
							header: map[string]string{"Idempotency-Key": randomHex(16)}, body: tc.body})
						wantPointers(t, r, tc.pointers...)
					})
				}
				r := s.do(t, req{method: "POST", path: "/v1/tokens",
					body: fmt.Sprintf(`{"email":"%s\u0000","password":%q}`, a.email, a.password)})
				wantProblem(t, r, http.StatusUnauthorized)
			})
		}
	})
}

// TestEveryV1ResponseCarriesRateLimitHeaders sends requests no route
// answers: an unknown path, a wrong method, a trailing slash. Each is a
// /v1 response, so each is limited and carries the IETF headers, and is a
// problem like every other error (not a router's redirect).
func TestEveryV1ResponseCarriesRateLimitHeaders(t *testing.T) {
	forEachVariant(t, func(t *testing.T, variant string) {
		s := startService(t, variant, nil)
		a := s.register(t)
		for _, tc := range []req{
			{method: "GET", path: "/v1/nothing-here"},
			{method: "GET", path: "/v1"},
			{method: "DELETE", path: "/v1/orders", token: a.token},
			{method: "PUT", path: "/v1/users", body: `{}`},
			{method: "GET", path: "/v1/orders/", token: a.token},
			{method: "POST", path: "/v1/users/", body: `{}`},
			// Paths ServeMux would clean with a redirect: the redirect is
			// no /v1 response with the headers, and no problem.
			{method: "GET", path: "/v1//orders", token: a.token},
			{method: "GET", path: "/v1/./orders", token: a.token},
			{method: "GET", path: "/v1/orders/../orders", token: a.token},
			{method: "POST", path: "/v1//users", body: `{}`},
		} {
			t.Run(tc.method+" "+tc.path, func(t *testing.T) {
				r := s.do(t, tc)
				status := r.StatusCode
				if status != http.StatusNotFound && status != http.StatusMethodNotAllowed {
					t.Fatalf("status %d, want 404 or 405 (Location %q): %s", status, r.Header.Get("Location"), r.body)
				}
				wantProblem(t, r, status)
				wantRateLimitHeaders(t, r)
			})
		}
	})
}

// TestHeadIsServedLikeGet sends HEAD to every GET route: HTTP's HEAD is
// GET without the body (RFC 9110 §9.3.2), and the contract names the
// session cookie a credential for GET and HEAD.
func TestHeadIsServedLikeGet(t *testing.T) {
	forEachVariant(t, func(t *testing.T, variant string) {
		s := startService(t, variant, nil)
		a := s.register(t)
		o := decodeOrder(t, s.createOrder(t, a.token, "head", 1))
		login := s.do(t, req{method: "POST", path: "/v1/tokens", body: fmt.Sprintf(`{"email":%q,"password":%q}`, a.email, a.password)})
		var cookie string
		for _, ck := range login.Cookies() {
			cookie = ck.Name + "=" + ck.Value
		}
		for _, tc := range []req{
			{path: "/livez"},
			{path: "/readyz"},
			{path: "/.well-known/jwks.json"},
			{path: "/v1/orders", token: a.token},
			{path: "/v1/orders", header: map[string]string{"Cookie": cookie}},
			{path: "/v1/orders/" + o.id(), token: a.token},
		} {
			t.Run(tc.path, func(t *testing.T) {
				tc.method = "GET"
				get := s.do(t, tc)
				tc.method = "HEAD"
				head := s.do(t, tc)
				if head.StatusCode != get.StatusCode || head.StatusCode != http.StatusOK {
					t.Fatalf("HEAD %s: %d, GET: %d", tc.path, head.StatusCode, get.StatusCode)
				}
				if h, g := head.Header.Get("Content-Type"), get.Header.Get("Content-Type"); h != g {
					t.Errorf("HEAD Content-Type %q, GET %q", h, g)
				}
				if len(head.body) != 0 {
					t.Errorf("HEAD with a body: %s", head.body)
				}
				if len(tc.path) > 3 && tc.path[:4] == "/v1/" {
					wantRateLimitHeaders(t, head)
				}
			})
		}
	})
}

// TestWrongMethodIs405 sends a method a route does not answer to paths
// that have routes: every router answers the same 405 problem with the
// Allow header RFC 9110 §15.5.6 requires (listing the methods the path
// answers), not a 404 on one router and a 405 on the others.
func TestWrongMethodIs405(t *testing.T) {
	forEachVariant(t, func(t *testing.T, variant string) {
		s := startService(t, variant, nil)
		a := s.register(t)
		o := decodeOrder(t, s.createOrder(t, a.token, "method", 1))
		for _, tc := range []struct {
			req   req
			allow []string
		}{
			{req{method: "DELETE", path: "/v1/orders", token: a.token}, []string{"GET", "HEAD", "POST"}},
			{req{method: "PUT", path: "/v1/users", body: `{}`}, []string{"POST"}},
			{req{method: "GET", path: "/v1/tokens"}, []string{"POST"}},
			{req{method: "POST", path: "/v1/orders/" + o.id(), token: a.token, body: `{}`}, []string{"GET", "HEAD"}},
			{req{method: "POST", path: "/livez", body: `{}`}, []string{"GET", "HEAD"}},
		} {
			t.Run(tc.req.method+" "+tc.req.path, func(t *testing.T) {
				r := s.do(t, tc.req)
				wantProblem(t, r, http.StatusMethodNotAllowed)
				got := map[string]bool{}
				for _, m := range strings.Split(r.Header.Get("Allow"), ",") {
					if m = strings.TrimSpace(m); m != "" && m != "OPTIONS" {
						got[m] = true
					}
				}
				for _, m := range tc.allow {
					if !got[m] {
						t.Errorf("Allow %q lacks %s", r.Header.Get("Allow"), m)
					}
				}
				if len(got) != len(tc.allow) {
					t.Errorf("Allow %q, want %v", r.Header.Get("Allow"), tc.allow)
				}
				if strings.HasPrefix(tc.req.path, "/v1/") {
					wantRateLimitHeaders(t, r)
				}
			})
		}
	})
}
