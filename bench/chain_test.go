package bench

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"

	"github.com/backstop-go/backstop/bench/internal/chain"
)

// The whole chain of the reference service (examples/app.Routes) against
// the same handlers with no middleware. The overhead of the chain without
// signature verification is full/<alg> − bare − verify/<alg>; the issue's
// target is ≤ 15 µs/op and ≤ 40 allocs/op.
//
//	go test ./bench -run '^$' -bench '^BenchmarkChain$' -benchmem -count 6

// chainKeys keeps one key per algorithm for the test binary: an RSA key
// takes a while to generate.
var chainKeys struct {
	sync.Mutex
	m map[string]any
}

func chainKey(tb testing.TB, alg string) any {
	chainKeys.Lock()
	defer chainKeys.Unlock()
	if k, ok := chainKeys.m[alg]; ok {
		return k
	}
	k, err := chain.NewKey(alg)
	if err != nil {
		tb.Fatal(err)
	}
	if chainKeys.m == nil {
		chainKeys.m = map[string]any{}
	}
	chainKeys.m[alg] = k
	return k
}

// newChain builds a fresh service (fresh stores, a new caller) for one
// benchmark; redisURL selects Redis stores.
func newChain(tb testing.TB, alg, redisURL string) (*chain.Chain, string) {
	tb.Helper()
	c, err := chain.New(context.Background(), chain.Options{Algorithm: alg, Key: chainKey(tb, alg), RedisURL: redisURL})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(c.Close)
	tok, err := c.Token()
	if err != nil {
		tb.Fatal(err)
	}
	return c, tok
}

// chainWriter is a ResponseWriter that keeps the status and drops the
// body, reused across iterations so that the harness costs next to
// nothing beside what is measured.
type chainWriter struct {
	h    http.Header
	code int
}

func (w *chainWriter) Header() http.Header { return w.h }

func (w *chainWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
}

func (w *chainWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return len(b), nil
}

func (w *chainWriter) reset() {
	clear(w.h)
	w.code = 0
}

// bodyReader is a request body that can be rewound without allocating.
type bodyReader struct{ bytes.Reader }

func (*bodyReader) Close() error { return nil }

const orderBody = `{"item":"widget","quantity":1}`

// chainRequests serves requests to h one after the other and fails on any
// status but want. newKey, when set, gives each request its
// Idempotency-Key (POST only).
type chainRequests struct {
	h    http.Handler
	r    *http.Request
	body *bodyReader
	w    chainWriter
	want int
}

func newChainRequests(h http.Handler, method, token string) *chainRequests {
	c := &chainRequests{h: h, w: chainWriter{h: http.Header{}}, want: http.StatusOK}
	if method == http.MethodPost {
		c.body = &bodyReader{}
		c.r = httptest.NewRequest(method, "/v1/orders", c.body)
		c.r.Header.Set("Content-Type", "application/json")
		c.r.ContentLength = int64(len(orderBody))
		c.want = http.StatusCreated
	} else {
		c.r = httptest.NewRequest(method, "/v1/orders", nil)
	}
	if token != "" {
		c.r.Header.Set("Authorization", "Bearer "+token)
	}
	return c
}

// serve serves one request (with the Idempotency-Key key, when not empty)
// and returns the status.
func (c *chainRequests) serve(key string) int {
	if c.body != nil {
		c.body.Reset([]byte(orderBody))
		c.r.Body = c.body
	}
	if key != "" {
		c.r.Header["Idempotency-Key"] = []string{key}
	}
	c.w.reset()
	c.h.ServeHTTP(&c.w, c.r)
	return c.w.code
}

func (c *chainRequests) mustServe(tb testing.TB, key string) {
	if got := c.serve(key); got != c.want {
		tb.Fatalf("%s %s: status %d, want %d", c.r.Method, c.r.URL.Path, got, c.want)
	}
}

// idempotencyKeys returns a function that gives a new key at each call:
// prefix (16 bytes or more, the middleware's minimum length) and a count.
func idempotencyKeys(prefix string) func() string {
	n := 0
	buf := []byte(prefix)
	return func() string {
		n++
		return string(strconv.AppendInt(buf[:len(prefix)], int64(n), 10))
	}
}

func BenchmarkChain(b *testing.B) {
	b.Run("bare", func(b *testing.B) {
		c, _ := newChain(b, "HS256", "")
		benchChainGET(b, c.Bare, "")
	})
	for _, alg := range chain.Algorithms() {
		b.Run("full/"+alg, func(b *testing.B) {
			c, tok := newChain(b, alg, "")
			benchChainGET(b, c.Full, tok)
		})
	}
	for _, alg := range chain.Algorithms() {
		b.Run("verify/"+alg, func(b *testing.B) {
			c, tok := newChain(b, alg, "")
			ctx := context.Background()
			b.ReportAllocs()
			cpu := processCPU()
			for b.Loop() {
				if _, err := c.Verifier.Verify(ctx, tok); err != nil {
					b.Fatal(err)
				}
			}
			reportCPU(b, cpu)
		})
	}
	// POST /v1/orders, HS256: without middleware (no idempotency: every
	// request creates an order), through the chain with a new key each
	// time (claim, run, record), and a replay of one key.
	b.Run("post/bare", func(b *testing.B) {
		c, _ := newChain(b, "HS256", "")
		benchChainPOST(b, c.Bare, "", idempotencyKeys("chain-bench-bare-"))
	})
	b.Run("post/first", func(b *testing.B) {
		c, _ := newChain(b, "HS256", "")
		benchChainPOSTFirst(b, c)
	})
	b.Run("post/replay", func(b *testing.B) {
		c, tok := newChain(b, "HS256", "")
		benchChainPOST(b, c.Full, tok, func() string { return "chain-bench-replayed-key" })
	})
}

func benchChainGET(b *testing.B, h http.Handler, token string) {
	req := newChainRequests(h, http.MethodGet, token)
	req.mustServe(b, "")
	b.ReportAllocs()
	cpu := processCPU()
	for b.Loop() {
		req.mustServe(b, "")
	}
	reportCPU(b, cpu)
}

// callerRecords is how many first requests benchChainPOSTFirst sends as
// one caller before it changes to another: fewer than the idempotency
// middleware's budget of records per caller (10,000).
const callerRecords = 5000

// benchChainPOSTFirst sends POST requests with a new key each, changing
// caller every callerRecords requests (minting its token is outside the
// timer).
func benchChainPOSTFirst(b *testing.B, c *chain.Chain) {
	key := idempotencyKeys("chain-bench-first-")
	caller := 0
	next := func() *chainRequests {
		caller++
		tok, err := c.TokenFor(c.Principal.Subject + "-" + strconv.Itoa(caller))
		if err != nil {
			b.Fatal(err)
		}
		return newChainRequests(c.Full, http.MethodPost, tok)
	}
	req := next()
	req.mustServe(b, key())
	b.ReportAllocs()
	cpu := processCPU()
	n := 1
	for b.Loop() {
		if n%callerRecords == 0 {
			b.StopTimer()
			req = next()
			b.StartTimer()
		}
		n++
		req.mustServe(b, key())
	}
	reportCPU(b, cpu)
}

func benchChainPOST(b *testing.B, h http.Handler, token string, key func() string) {
	req := newChainRequests(h, http.MethodPost, token)
	req.mustServe(b, key())
	b.ReportAllocs()
	cpu := processCPU()
	for b.Loop() {
		req.mustServe(b, key())
	}
	reportCPU(b, cpu)
}
