package blackbox

import (
	"bufio"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/backstop-go/backstop/examples/internal/pgtest"
	"github.com/backstop-go/backstop/internal/redistest"
	"github.com/golang-jwt/jwt/v5"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"
)

// TestRateLimit trips the limit by principal and by client address.
func TestRateLimit(t *testing.T) {
	forEachVariant(t, func(t *testing.T, variant string) {
		key := newSigningKey(t)
		s := startService(t, variant, map[string]string{"RATE_LIMIT": "5/1m", "AUTH_SIGNING_KEY_FILE": key.file})
		kid := s.jwksKid(t)
		alice := key.mint(t, kid, localClaims("1001", "orders:read orders:write"))
		bob := key.mint(t, kid, localClaims("1002", "orders:read orders:write"))

		for i := range 5 {
			r := s.do(t, req{method: "GET", path: "/v1/orders", token: alice})
			if r.StatusCode != http.StatusOK {
				t.Fatalf("request %d of 5: %d %s", i+1, r.StatusCode, r.body)
			}
			wantRateLimitHeaders(t, r)
		}
		r := s.do(t, req{method: "GET", path: "/v1/orders", token: alice})
		wantProblem(t, r, http.StatusTooManyRequests)
		// A sliding window counter may ask for up to a window plus a
		// fraction of the next (it never answers early).
		if n := wantRetryAfterSeconds(t, r); n < 1 || n > 120 {
			t.Errorf("Retry-After %d for a 5/1m limit", n)
		}
		wantRateLimitHeaders(t, r)
		for _, it := range parseSFList(t, r.Header.Get("RateLimit")) {
			if it.params["r"] != "0" {
				t.Errorf("429 with RateLimit %q, want r=0", r.Header.Get("RateLimit"))
			}
		}
		// Another principal from the same address has its own budget.
		if r := s.do(t, req{method: "GET", path: "/v1/orders", token: bob}); r.StatusCode != http.StatusOK {
			t.Errorf("another principal: %d %s", r.StatusCode, r.body)
		}
		// Anonymous requests count against the address, 401s included, so
		// token guessing is limited too.
		for i := range 5 {
			r := s.do(t, req{method: "GET", path: "/v1/orders", token: "guess." + randomHex(4)})
			if r.StatusCode != http.StatusUnauthorized {
				t.Fatalf("anonymous request %d: %d %s", i+1, r.StatusCode, r.body)
			}
		}
		r = s.do(t, req{method: "POST", path: "/v1/tokens", body: `{"email":"a@example.com","password":"guess guess guess"}`})
		wantProblem(t, r, http.StatusTooManyRequests)
		wantRetryAfterSeconds(t, r)
	})
}

// TestExternalIssuer accepts tokens from a JWKS issuer served over HTTPS
// and keeps its principals apart from local ones.
func TestExternalIssuer(t *testing.T) {
	idp := newExternalIssuer(t)
	forEachVariant(t, func(t *testing.T, variant string) {
		s := startService(t, variant, map[string]string{
			"AUTH_JWKS_URL":    idp.srv.URL + "/jwks.json",
			"AUTH_JWKS_ISSUER": idp.issuer,
			"SSL_CERT_FILE":    idp.certFile,
		})
		local := s.register(t)
		if r := s.createOrder(t, local.token, "local order", 1); r.StatusCode != http.StatusCreated {
			t.Fatalf("local order: %d %s", r.StatusCode, r.body)
		}
		sameSub := strings.Trim(local.id, `"`)
		for _, alg := range []string{"RS256", "ES256", "EdDSA"} {
			t.Run(alg, func(t *testing.T) {
				tok := idp.mint(t, alg, "JWT", jwt.MapClaims{"sub": sameSub})
				p := decodePage(t, s.do(t, req{method: "GET", path: "/v1/orders", token: tok}))
				if len(p.Data) != 0 {
					t.Fatalf("an external principal with a local user's sub sees %d of their orders", len(p.Data))
				}
			})
		}
		ext := idp.mint(t, "ES256", "at+jwt", jwt.MapClaims{"sub": "ext-" + randomHex(4)})
		if r := s.createOrder(t, ext, "external order", 2); r.StatusCode != http.StatusCreated {
			t.Fatalf("external order: %d %s", r.StatusCode, r.body)
		}
		if p := decodePage(t, s.do(t, req{method: "GET", path: "/v1/orders", token: ext})); len(p.Data) != 1 {
			t.Errorf("external principal sees %d orders, want 1", len(p.Data))
		}
		for name, tok := range map[string]string{
			"wrong audience": idp.mint(t, "RS256", "JWT", jwt.MapClaims{"sub": "x", "aud": "other"}),
			"unknown kid":    idp.mintWith(t, "RS256", "JWT", "no-such-kid", jwt.MapClaims{"sub": "x"}),
			"HS256 with the RSA public key as secret": idp.hmacConfusion(t),
			"wrong typ": idp.mint(t, "RS256", "id+jwt", jwt.MapClaims{"sub": "x"}),
		} {
			r := s.do(t, req{method: "GET", path: "/v1/orders", token: tok})
			if r.StatusCode != http.StatusUnauthorized {
				t.Errorf("%s: %d %s, want 401", name, r.StatusCode, r.body)
			}
		}
	})
}

// externalIssuer is an identity provider publishing RSA, EC and Ed25519
// keys over HTTPS.
type externalIssuer struct {
	srv      *httptest.Server
	issuer   string
	certFile string
	rsa      *rsa.PrivateKey
	ec       *ecdsa.PrivateKey
	ed       ed25519.PrivateKey
}

func newExternalIssuer(t *testing.T) *externalIssuer {
	t.Helper()
	idp := &externalIssuer{issuer: "https://idp.example.test"}
	var err error
	if idp.rsa, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		t.Fatal(err)
	}
	if idp.ec, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		t.Fatal(err)
	}
	if _, idp.ed, err = ed25519.GenerateKey(rand.Reader); err != nil {
		t.Fatal(err)
	}
	b64 := base64.RawURLEncoding.EncodeToString
	pad := func(b *big.Int) string { return b64(b.FillBytes(make([]byte, 32))) }
	ecPub, _ := idp.ec.PublicKey.ECDH()
	raw := ecPub.Bytes() // 0x04 || X || Y
	x, y := new(big.Int).SetBytes(raw[1:33]), new(big.Int).SetBytes(raw[33:])
	jwks, _ := json.Marshal(map[string]any{"keys": []map[string]any{
		{"kty": "RSA", "kid": "rsa-1", "alg": "RS256", "use": "sig", "n": b64(idp.rsa.N.Bytes()), "e": b64(big.NewInt(int64(idp.rsa.E)).Bytes())},
		{"kty": "EC", "kid": "ec-1", "alg": "ES256", "use": "sig", "crv": "P-256", "x": pad(x), "y": pad(y)},
		{"kty": "OKP", "kid": "ed-1", "alg": "EdDSA", "use": "sig", "crv": "Ed25519", "x": b64(idp.ed.Public().(ed25519.PublicKey))},
	}})
	idp.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/jwks.json" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(jwks)
	}))
	t.Cleanup(idp.srv.Close)
	idp.certFile = filepath.Join(t.TempDir(), "idp.pem")
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: idp.srv.Certificate().Raw})
	if err := os.WriteFile(idp.certFile, certPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	return idp
}

func (idp *externalIssuer) mint(t *testing.T, alg, typ string, extra jwt.MapClaims) string {
	kid := map[string]string{"RS256": "rsa-1", "ES256": "ec-1", "EdDSA": "ed-1"}[alg]
	return idp.mintWith(t, alg, typ, kid, extra)
}

func (idp *externalIssuer) mintWith(t *testing.T, alg, typ, kid string, extra jwt.MapClaims) string {
	t.Helper()
	now := time.Now()
	claims := jwt.MapClaims{"iss": idp.issuer, "aud": "orders", "scope": "orders:read orders:write",
		"iat": now.Unix(), "exp": now.Add(10 * time.Minute).Unix()}
	for k, v := range extra {
		claims[k] = v
	}
	var key crypto.Signer
	switch alg {
	case "RS256":
		key = idp.rsa
	case "ES256":
		key = idp.ec
	default:
		key = idp.ed
	}
	tok := jwt.NewWithClaims(jwt.GetSigningMethod(alg), claims)
	tok.Header["kid"], tok.Header["typ"] = kid, typ
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// hmacConfusion signs an HS256 token with the issuer's RSA public key (in
// PEM and raw forms) as the secret: the classic key-confusion attack.
func (idp *externalIssuer) hmacConfusion(t *testing.T) string {
	t.Helper()
	now := time.Now()
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"iss": idp.issuer, "aud": "orders", "sub": "x",
		"scope": "orders:read", "iat": now.Unix(), "exp": now.Add(time.Minute).Unix()})
	tok.Header["kid"] = "rsa-1"
	s, err := tok.SignedString(idp.rsa.N.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestTwoInstancesShareRedis: a POST on one instance and its retry on the
// other replays, and the rate limit is shared.
func TestTwoInstancesShareRedis(t *testing.T) {
	forEachVariant(t, func(t *testing.T, variant string) {
		redisURL := "redis://" + redistest.NewServer(t).Addr()
		key := newSigningKey(t)
		env := map[string]string{"REDIS_URL": redisURL, "AUTH_SIGNING_KEY_FILE": key.file, "RATE_LIMIT": "6/1m"}
		a, b := startService(t, variant, env), startService(t, variant, env)
		tok := key.mint(t, a.jwksKid(t), localClaims("2001", "orders:read orders:write"))

		idem := randomHex(16)
		body := `{"item":"shared","quantity":4}`
		first := a.do(t, req{method: "POST", path: "/v1/orders", token: tok, header: map[string]string{"Idempotency-Key": idem}, body: body})
		if first.StatusCode != http.StatusCreated {
			t.Fatalf("first on A: %d %s", first.StatusCode, first.body)
		}
		retry := b.do(t, req{method: "POST", path: "/v1/orders", token: tok, header: map[string]string{"Idempotency-Key": idem}, body: body})
		if retry.StatusCode != http.StatusCreated || string(retry.body) != string(first.body) || retry.Header.Get("Idempotent-Replayed") != "true" {
			t.Fatalf("retry on B: %d %q %s, want the replay of %s", retry.StatusCode, retry.Header.Get("Idempotent-Replayed"), retry.body, first.body)
		}
		// Two requests used; four more across both instances, then 429.
		for i, s := range []*service{a, b, a, b} {
			if r := s.do(t, req{method: "GET", path: "/v1/orders/1", token: tok}); r.StatusCode == http.StatusTooManyRequests {
				t.Fatalf("request %d was limited before the shared budget of 6 was spent", i+3)
			}
		}
		wantProblem(t, b.do(t, req{method: "GET", path: "/v1/orders", token: tok}), http.StatusTooManyRequests)
		wantProblem(t, a.do(t, req{method: "GET", path: "/v1/orders", token: tok}), http.StatusTooManyRequests)
	})
}

// TestRedisOutage stops Redis under a running service and brings it back.
func TestRedisOutage(t *testing.T) {
	forEachVariant(t, func(t *testing.T, variant string) {
		rs := redistest.NewServer(t)
		key := newSigningKey(t)
		s := startService(t, variant, map[string]string{"REDIS_URL": "redis://" + rs.Addr(), "AUTH_SIGNING_KEY_FILE": key.file})
		tok := key.mint(t, s.jwksKid(t), localClaims("3001", "orders:read orders:write"))
		if r := s.createOrder(t, tok, "before", 1); r.StatusCode != http.StatusCreated {
			t.Fatalf("before the outage: %d %s", r.StatusCode, r.body)
		}

		// The bounds of the contract: with checks every 2 s bounded by 1 s,
		// an outage shows within 3 s and a recovery within 4 s (go-redis
		// probes a server it gave up dialing once a second), plus a probe.
		stopped := time.Now()
		rs.Stop(t)
		within(t, stopped, 5*time.Second, "/readyz fails after Redis stopped", func() bool {
			r := s.do(t, req{method: "GET", path: "/readyz"})
			return r.StatusCode == http.StatusServiceUnavailable && r.json(t)["status"] == "fail"
		})
		if r := s.do(t, req{method: "GET", path: "/livez"}); r.StatusCode != http.StatusOK {
			t.Errorf("/livez during the outage: %d", r.StatusCode)
		}
		// Writes fail closed; reads go on with rate limiting failing open.
		wantProblem(t, s.createOrder(t, tok, "during", 1), http.StatusServiceUnavailable)
		if r := s.do(t, req{method: "GET", path: "/v1/orders", token: tok}); r.StatusCode != http.StatusOK {
			t.Errorf("GET during the outage: %d %s", r.StatusCode, r.body)
		}

		// Restart returns once the server answers: Redis is back from then.
		rs.Restart(t)
		returned := time.Now()
		within(t, returned, 10*time.Second, "/readyz passes after Redis returned", func() bool {
			return s.do(t, req{method: "GET", path: "/readyz"}).StatusCode == http.StatusOK
		})
		eventually(t, 60*time.Second, "POST works again after Redis returns", func() bool {
			return s.createOrder(t, tok, "after", 1).StatusCode == http.StatusCreated
		})
		// Every line written through the outage is one JSON object.
		for _, line := range s.logs.lines() {
			if !json.Valid([]byte(line)) {
				t.Errorf("log line is not JSON: %q", line)
			}
		}
	})
}

// TestGracefulShutdown: on SIGTERM readiness fails within 1 s, the
// listener stays open for SHUTDOWN_DRAIN, an in-flight request completes,
// the stores are closed, the telemetry is flushed, and the process exits 0.
func TestGracefulShutdown(t *testing.T) {
	forEachVariant(t, func(t *testing.T, variant string) {
		const drain = 3 * time.Second
		collector := newTraceCollector(t)
		s := startService(t, variant, map[string]string{
			"SHUTDOWN_DRAIN": drain.String(),
			"REDIS_URL":      "redis://" + redistest.NewServer(t).Addr(),
			// Spans are exported only when the telemetry is flushed: the
			// batch delay outlasts the test.
			"OTEL_TRACES_EXPORTER":               "otlp",
			"OTEL_EXPORTER_OTLP_PROTOCOL":        "http/protobuf",
			"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": collector.srv.URL + "/v1/traces",
			"OTEL_BSP_SCHEDULE_DELAY":            "3600000",
		})
		// An in-flight request: the body arrives in two parts.
		body := fmt.Sprintf(`{"email":"drain%s@example.com","password":"twelve chars!","name":"Drain"}`, randomHex(4))
		conn, err := net.Dial("tcp", strings.TrimPrefix(s.base, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		fmt.Fprintf(conn, "POST /v1/users HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(body), body[:10])
		if r := s.do(t, req{method: "GET", path: "/readyz"}); r.StatusCode != http.StatusOK {
			t.Fatalf("/readyz before SIGTERM: %d %s", r.StatusCode, r.body)
		}
		if n := collector.exports(); n != 0 {
			t.Fatalf("%d trace exports before SIGTERM: the test needs spans to wait for the flush", n)
		}

		sent := time.Now()
		s.signal(syscall.SIGTERM)
		within(t, sent, time.Second, "/readyz answers 503 after SIGTERM", func() bool {
			return s.do(t, req{method: "GET", path: "/readyz"}).StatusCode == http.StatusServiceUnavailable
		})

		// Half-way through the drain the listener still accepts new
		// connections, and liveness still passes.
		time.Sleep(time.Until(sent.Add(drain / 2)))
		asked := time.Now()
		code, err := getOnNewConnection(s.base + "/livez")
		switch {
		case err == nil && code == http.StatusOK:
		case asked.Sub(sent) < drain*3/4:
			t.Errorf("/livez on a new connection %v after SIGTERM, inside the %v drain: %d %v", asked.Sub(sent).Round(time.Millisecond), drain, code, err)
		default:
			t.Logf("the machine was too slow to check the listener inside the %v drain (asked after %v): %d %v", drain, asked.Sub(sent), code, err)
		}

		// The in-flight request completes.
		if _, err := conn.Write([]byte(body[10:])); err != nil {
			t.Fatalf("finishing the in-flight request: %v", err)
		}
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatalf("in-flight request: %v", err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			t.Errorf("in-flight request: %d, want 201", resp.StatusCode)
		}

		if code := s.wait(60 * time.Second); code != 0 {
			t.Errorf("exit code %d after SIGTERM, want 0", code)
		}
		if took := s.exited.Sub(sent); took < drain {
			t.Errorf("the process exited %v after SIGTERM, before the end of the %v drain", took.Round(time.Millisecond), drain)
		}
		// The shutdown ends with the stores closed and the telemetry
		// flushed, in that order, after the server has shut down.
		wantLogSequence(t, s.logs.lines(), "shut down", "closed redis", "telemetry flushed")
		if n, spans, first := collector.received(); n == 0 || spans == 0 {
			t.Errorf("telemetry not flushed: %d exports holding %d spans", n, spans)
		} else if first.Before(sent) {
			t.Errorf("spans exported before SIGTERM, so the flush at shutdown is untested")
		}
	})
}

// getOnNewConnection sends a GET on a connection of its own, so that its
// success shows that the listener accepts connections.
func getOnNewConnection(url string) (int, error) {
	c := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get(url)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, nil
}

// wantLogSequence checks that the messages appear among the log lines in
// this order.
func wantLogSequence(t *testing.T, lines []string, msgs ...string) {
	t.Helper()
	next := 0
	for _, line := range lines {
		var rec struct {
			Msg string `json:"msg"`
		}
		if next < len(msgs) && json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == msgs[next] {
			next++
		}
	}
	if next < len(msgs) {
		t.Errorf("the logs lack %q (after %q): want the messages %q in this order", msgs[next], msgs[:next], msgs)
	}
}

// traceCollector is an OTLP/HTTP traces endpoint that counts what it gets.
type traceCollector struct {
	srv   *httptest.Server
	mu    sync.Mutex
	n     int
	spans int
	first time.Time
}

func newTraceCollector(t *testing.T) *traceCollector {
	t.Helper()
	c := &traceCollector{}
	c.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		var msg coltracepb.ExportTraceServiceRequest
		if err != nil || r.URL.Path != "/v1/traces" || proto.Unmarshal(b, &msg) != nil {
			http.Error(w, "not an OTLP/HTTP protobuf trace export", http.StatusBadRequest)
			return
		}
		spans := 0
		for _, rs := range msg.GetResourceSpans() {
			for _, ss := range rs.GetScopeSpans() {
				spans += len(ss.GetSpans())
			}
		}
		c.mu.Lock()
		if c.n == 0 {
			c.first = time.Now()
		}
		c.n++
		c.spans += spans
		c.mu.Unlock()
		w.Header().Set("Content-Type", "application/x-protobuf")
		w.WriteHeader(http.StatusOK) // an empty ExportTraceServiceResponse
	}))
	t.Cleanup(c.srv.Close)
	return c
}

func (c *traceCollector) exports() int {
	n, _, _ := c.received()
	return n
}

// received returns the number of exports, the spans they held and when
// the first arrived.
func (c *traceCollector) received() (n, spans int, first time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n, c.spans, c.first
}

// TestPostgresSharesEverything: two instances on one database share users
// and orders.
func TestPostgresSharesEverything(t *testing.T) {
	forEachVariant(t, func(t *testing.T, variant string) {
		key := newSigningKey(t)
		env := map[string]string{"DATABASE_URL": pgtest.Database(t), "AUTH_SIGNING_KEY_FILE": key.file}
		a := startService(t, variant, env)
		b := startService(t, variant, env)
		acct := a.register(t)
		tok := b.login(t, acct.email, acct.password)
		o := decodeOrder(t, a.createOrder(t, acct.token, "shared row", 7))
		r := b.do(t, req{method: "GET", path: "/v1/orders/" + o.id(), token: tok})
		if r.StatusCode != http.StatusOK || decodeOrder(t, r).CreatedAt != o.CreatedAt {
			t.Fatalf("order from A on B: %d %s", r.StatusCode, r.body)
		}
	})
}
