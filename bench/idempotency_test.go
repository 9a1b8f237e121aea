package bench

// Idempotency benchmarks: the overhead of backstop's idempotency middleware
// over a bare handler, for a first request (claim, run, record) and for a
// replay, with the in-memory store and with Redis. Every request carries a
// 1 KiB body, which is read and hashed; the handler reads it and answers
// 201 with a small JSON body. No Go peer is benchmarked: none of the Go
// idempotency libraries is a dependency of this module (see the research
// notes), and their designs differ (no fingerprint, no scope). Redis
// benchmarks start their own redis-server through internal/redistest (see
// main_test.go), or use BENCH_REDIS_ADDR or REDIS_URL when set.
//
//	go test -run '^$' -bench 'Idempotency' -benchmem -count 6 .

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/backstop-go/backstop/idempotency"
	"github.com/backstop-go/backstop/idempotency/redisstore"
)

var idemBody = bytes.Repeat([]byte("0123456789abcdef"), 64) // 1 KiB

var idemResponse = []byte(`{"id":"ord_8e03978e40d543e8","status":"created","amount":4200,"currency":"eur"}`)

var idemHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Location", "/orders/ord_8e03978e40d543e8")
	w.WriteHeader(http.StatusCreated)
	_, _ = w.Write(idemResponse)
})

type idemWriter struct {
	h    http.Header
	code int
}

func (w *idemWriter) Header() http.Header         { return w.h }
func (w *idemWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *idemWriter) WriteHeader(code int)        { w.code = code }

// idemServe sends b.N requests through h. When fresh is set each request
// carries a new key (a first request); otherwise all carry the same key
// (replays after the first). tick runs before each request.
func idemServe(b *testing.B, h http.Handler, fresh bool, tick func()) {
	r := httptest.NewRequest(http.MethodPost, "/orders?currency=eur", nil)
	r.Header.Set("Authorization", "Bearer bench-token")
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set(idempotency.HeaderKey, "bench-key-0000000000000")
	r.ContentLength = int64(len(idemBody))
	keys := r.Header[idempotency.HeaderKey]
	var fresher []string
	if fresh {
		base := fmt.Sprintf("bench-%d-", time.Now().UnixNano())
		fresher = make([]string, b.N)
		for i := range fresher {
			fresher[i] = base + strconv.Itoa(i)
		}
	}
	w := &idemWriter{h: make(http.Header, 8)}
	body := bytes.NewReader(idemBody)
	rc := io.NopCloser(body)
	serve := func() {
		body.Reset(idemBody)
		r.Body = rc
		clear(w.h)
		h.ServeHTTP(w, r)
	}
	if !fresh {
		serve() // the first request; the loop replays it
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if fresh {
			keys[0] = fresher[i]
		}
		if tick != nil {
			tick()
		}
		serve()
		if w.code != http.StatusCreated {
			b.Fatalf("status %d", w.code)
		}
	}
}

func idemMiddleware(s idempotency.Store, o idempotency.Options) http.Handler {
	return idempotency.New(s, nil, o).Handler(idemHandler)
}

func BenchmarkIdempotency(b *testing.B) {
	b.Run("bare", func(b *testing.B) { idemServe(b, idemHandler, true, nil) })

	// The memory store runs on a clock that advances 1 s per request with a
	// 1000 s retention, so it holds a steady ~1000 records instead of
	// growing with b.N.
	memory := func(b *testing.B) (idempotency.Store, func()) {
		now := time.Now()
		s := idempotency.NewMemoryStore(idempotency.MemoryOptions{Now: func() time.Time { return now }})
		return s, func() { now = now.Add(time.Second) }
	}
	memOpts := idempotency.Options{Retention: 1000 * time.Second}
	b.Run("memory/first", func(b *testing.B) {
		s, tick := memory(b)
		idemServe(b, idemMiddleware(s, memOpts), true, tick)
	})
	b.Run("memory/replay", func(b *testing.B) {
		s, _ := memory(b)
		idemServe(b, idemMiddleware(s, memOpts), false, nil)
	})

	// One caller sends every request: its budget is checked on each claim
	// but set out of reach, so that b.N new keys fit.
	redisOpts := idempotency.Options{Retention: time.Minute, MaxRecordsPerScope: 1 << 30}
	prefix := fmt.Sprintf("bench-idem-%d", time.Now().UnixNano())
	b.Run("redis/first", func(b *testing.B) {
		s := idemRedisStore(b, prefix)
		idemServe(b, idemMiddleware(s, redisOpts), true, nil)
	})
	b.Run("redis/replay", func(b *testing.B) {
		s := idemRedisStore(b, prefix)
		idemServe(b, idemMiddleware(s, redisOpts), false, nil)
	})
}

// idemRedisStore returns a store with a Timeout well above the default
// (50 ms): a benchmark on a loaded machine must not fail on a slow call.
func idemRedisStore(b *testing.B, prefix string) idempotency.Store {
	return redisstore.New(benchRedis(b), redisstore.Options{Prefix: prefix, Timeout: 5 * time.Second})
}
