package redisstore_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/backstop-go/backstop/idempotency"
	"github.com/backstop-go/backstop/idempotency/redisstore"
	"github.com/backstop-go/backstop/internal/redistest"
	"github.com/backstop-go/backstop/problem"
)

// TestOutage stops Redis in the middle of a test: requests fail closed
// with 503 and never run the handler, then work again once Redis is back,
// with the same store and client.
func TestOutage(t *testing.T) {
	srv := redistest.NewServer(t)
	s := redisstore.New(srv.Client(t), redisstore.Options{Timeout: generous})
	var runs atomic.Int64
	m := newMW(s, idempotency.Options{Logger: slog.New(slog.DiscardHandler)})
	h := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		runs.Add(1)
		w.WriteHeader(http.StatusCreated)
	}))
	do := func(key string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodPost, "/orders", nil)
		r.Header.Set(idempotency.HeaderKey, key)
		r.Header.Set("Authorization", "Bearer a")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		return rec
	}
	if rec := do("before-outage-0123456789"); rec.Code != http.StatusCreated {
		t.Fatalf("before = %d", rec.Code)
	}
	srv.Stop(t)
	for _, key := range []string{"before-outage-0123456789", "during-outage-0123456789"} {
		rec := do(key)
		p, err := problem.Parse(rec.Result())
		if rec.Code != http.StatusServiceUnavailable || err != nil || !errors.Is(p, idempotency.ErrUnavailable) || rec.Header().Get("Retry-After") == "" {
			t.Fatalf("during outage = %d %q", rec.Code, rec.Body)
		}
	}
	if runs.Load() != 1 {
		t.Fatalf("handler ran during the outage: %d runs", runs.Load())
	}
	srv.Restart(t)
	if rec := do("after-outage-0123456789"); rec.Code != http.StatusCreated || runs.Load() != 2 {
		t.Fatalf("after restart = %d, runs %d", rec.Code, runs.Load())
	}
	if rec := do("after-outage-0123456789"); rec.Header().Get(idempotency.HeaderReplayed) != "true" {
		t.Fatalf("replay after restart = %d", rec.Code)
	}
}

// closedAddr returns a loopback address where nothing listens.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// A Redis that refuses connections is answered fast, with the client's
// default options and a caller's context without a deadline (as storetest
// and direct callers use): within Timeout while go-redis still dials, and
// at once after its pool has given up, never after go-redis's own retries
// with backoff (about 1.7 s a call with its defaults).
func TestRefusedConnectionFailsFast(t *testing.T) {
	client := redis.NewClient(&redis.Options{Addr: closedAddr(t), PoolSize: 4})
	t.Cleanup(func() { client.Close() })
	s := redisstore.New(client, redisstore.Options{})
	ctx := context.Background()
	req := idempotency.ClaimRequest{Key: idempotency.RecordKey{Scope: "s", ID: "k"}, Fingerprint: "fp", Lease: time.Minute, Retention: time.Hour}
	var took []time.Duration
	for range 40 {
		start := time.Now()
		_, err := s.Claim(ctx, req)
		took = append(took, time.Since(start))
		if !errors.Is(err, idempotency.ErrStoreUnavailable) {
			t.Fatalf("Claim against a refusing server = %v, want ErrStoreUnavailable", err)
		}
	}
	// A loaded CI machine may stall any single call: the bounds are on the
	// slowest call, and on the typical call once go-redis stopped dialling
	// (after PoolSize failed dials, some of them by the withdrawals of
	// claims that timed out).
	slowest := slices.Max(took)
	if slowest > redisstore.DefaultTimeout+500*time.Millisecond {
		t.Fatalf("slowest call took %v, want about Timeout (%v) at most; all: %v", slowest, redisstore.DefaultTimeout, took)
	}
	late := slices.Clone(took[len(took)/2:])
	slices.Sort(late)
	if median := late[len(late)/2]; median > 10*time.Millisecond {
		t.Fatalf("median of the last %d calls took %v, want well under a millisecond; all: %v", len(late), median, took)
	}
	t.Logf("refused connection, 40 calls: %v", took)
}

// A server that accepts connections and never answers is cut off at
// Timeout when the client has ContextTimeoutEnabled, not at its
// ReadTimeout (3 s by default).
func TestHungServerCutOffAtTimeout(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	// The accept loop is counted too, so that a connection it adds after
	// Close never races with Wait on a zero counter.
	var conns sync.WaitGroup
	t.Cleanup(func() { ln.Close(); conns.Wait() })
	conns.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Go(func() { _, _ = io.Copy(io.Discard, c); c.Close() }) // read, never answer
		}
	})
	client := redis.NewClient(&redis.Options{Addr: ln.Addr().String(), ContextTimeoutEnabled: true})
	t.Cleanup(func() { client.Close() })
	const timeout = 200 * time.Millisecond
	s := redisstore.New(client, redisstore.Options{Timeout: timeout})
	start := time.Now()
	_, err = s.Claim(context.Background(), idempotency.ClaimRequest{Key: idempotency.RecordKey{Scope: "s", ID: "k"}, Fingerprint: "fp", Lease: time.Minute, Retention: time.Hour})
	took := time.Since(start)
	if !errors.Is(err, idempotency.ErrStoreUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Claim against a hung server = %v, want ErrStoreUnavailable and a deadline", err)
	}
	if took < timeout || took > timeout+time.Second {
		t.Fatalf("Claim against a hung server took %v, want Timeout (%v)", took, timeout)
	}
}

// proxy forwards TCP connections to a Redis server and can break the next
// command's connection, before or after the server ran it.
type proxy struct {
	ln     net.Listener
	target string
	// mode: 0 forwards; dropBefore closes the connection that carries the
	// next command instead of forwarding it; dropReply forwards it and
	// closes the connection instead of forwarding the reply.
	mode  atomic.Int32
	drops atomic.Int32
	wg    sync.WaitGroup
}

const (
	dropBefore = 1
	dropReply  = 2
	delayReply = 3 // forwards the reply after replyDelay
)

const replyDelay = 500 * time.Millisecond

func newProxy(t *testing.T, target string) *proxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, target: target}
	t.Cleanup(func() { ln.Close(); p.wg.Wait() })
	p.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.wg.Go(func() { p.serve(c) })
		}
	})
	return p
}

func (p *proxy) serve(client net.Conn) {
	server, err := net.Dial("tcp", p.target)
	if err != nil {
		client.Close()
		return
	}
	var replyDrop, replyLate atomic.Bool
	closeBoth := func() { client.Close(); server.Close() }
	var wg sync.WaitGroup
	wg.Go(func() { // server to client
		buf := make([]byte, 64<<10)
		for {
			n, err := server.Read(buf)
			if n > 0 && replyDrop.Load() {
				p.drops.Add(1)
				closeBoth()
				return
			}
			if n > 0 && replyLate.CompareAndSwap(true, false) {
				time.Sleep(replyDelay)
			}
			if n > 0 {
				if _, werr := client.Write(buf[:n]); werr != nil {
					closeBoth()
					return
				}
			}
			if err != nil {
				closeBoth()
				return
			}
		}
	})
	buf := make([]byte, 64<<10)
	for {
		n, err := client.Read(buf)
		if n > 0 {
			switch {
			case p.mode.CompareAndSwap(dropBefore, 0):
				p.drops.Add(1)
				closeBoth()
				wg.Wait()
				return
			case p.mode.CompareAndSwap(dropReply, 0):
				replyDrop.Store(true)
			case p.mode.CompareAndSwap(delayReply, 0):
				replyLate.Store(true)
			}
			if _, werr := server.Write(buf[:n]); werr != nil {
				break
			}
		}
		if err != nil {
			break
		}
	}
	closeBoth()
	wg.Wait()
}

// One lost connection gets one retry: a command whose connection breaks,
// before the server saw it or after it ran it, is sent again at once on a
// new connection, and the scripts recognise a command they already ran.
func TestLostConnectionGetsOneRetry(t *testing.T) {
	srv := redistest.NewServer(t)
	p := newProxy(t, srv.Addr())
	client := redis.NewClient(&redis.Options{Addr: p.ln.Addr().String()})
	t.Cleanup(func() { client.Close() })
	s := redisstore.New(client, redisstore.Options{Timeout: generous})
	ctx := context.Background()
	if err := s.Ping(ctx); err != nil { // a pooled connection to break
		t.Fatal(err)
	}
	key := idempotency.RecordKey{Scope: "s", ID: "k"}
	p.mode.Store(dropBefore)
	res, err := s.Claim(ctx, idempotency.ClaimRequest{Key: key, Fingerprint: "fp", Lease: time.Minute, Retention: time.Hour})
	if err != nil || res.Outcome != idempotency.Claimed || p.drops.Load() != 1 {
		t.Fatalf("claim whose connection broke before the server saw it = %+v, %v (drops %d); want claimed", res, err, p.drops.Load())
	}
	p.mode.Store(dropReply)
	if err := s.Extend(ctx, key, res.Owner, time.Minute); err != nil || p.drops.Load() != 2 {
		t.Fatalf("extend whose reply was lost = %v (drops %d); want success", err, p.drops.Load())
	}
	p.mode.Store(dropReply)
	if err := s.Complete(ctx, key, res.Owner, idempotency.Response{Status: 201, Body: []byte("made")}, time.Hour); err != nil || p.drops.Load() != 3 {
		t.Fatalf("completion whose reply was lost = %v (drops %d); want success: it was recorded", err, p.drops.Load())
	}
	rec, err := s.Get(ctx, key)
	if err != nil || rec.State != idempotency.Done || string(rec.Response.Body) != "made" {
		t.Fatalf("record = %+v, %v", rec, err)
	}
	// A second completion by the owner is still refused.
	if err := s.Complete(ctx, key, res.Owner, idempotency.Response{Status: 500}, time.Hour); !errors.Is(err, idempotency.ErrNotOwner) {
		t.Fatalf("second completion = %v, want ErrNotOwner", err)
	}
	// The claim of a new key whose reply is lost is given back to its
	// owner, not answered "in flight".
	p.mode.Store(dropReply)
	res2, err := s.Claim(ctx, idempotency.ClaimRequest{Key: idempotency.RecordKey{Scope: "s", ID: "k2"}, Fingerprint: "fp", Lease: time.Minute, Retention: time.Hour})
	if err != nil || res2.Outcome != idempotency.Claimed || p.drops.Load() != 4 {
		t.Fatalf("claim whose reply was lost = %+v, %v (drops %d); want claimed", res2, err, p.drops.Load())
	}
}

// A claim that Redis made but whose reply came after Timeout is withdrawn:
// its owner token reached nobody, and left in place it would answer the
// client's retry with 409 until its lease ran out.
func TestClaimAnsweredTooLateIsWithdrawn(t *testing.T) {
	srv := redistest.NewServer(t)
	p := newProxy(t, srv.Addr())
	client := redis.NewClient(&redis.Options{Addr: p.ln.Addr().String(), ContextTimeoutEnabled: true})
	t.Cleanup(func() { client.Close() })
	const timeout = 200 * time.Millisecond // well below replyDelay
	s := redisstore.New(client, redisstore.Options{Timeout: timeout})
	direct := redisstore.New(srv.Client(t), redisstore.Options{Timeout: generous})
	ctx := context.Background()
	req := idempotency.ClaimRequest{Key: idempotency.RecordKey{Scope: "s", ID: "k"}, Fingerprint: "fp", Lease: time.Hour, Retention: time.Hour}
	// Open the client's connection through the proxy without the short
	// Timeout, which a loaded machine can miss before the proxy is involved.
	if err := redisstore.New(client, redisstore.Options{Timeout: generous}).Ping(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := direct.Claim(ctx, idempotency.ClaimRequest{Key: idempotency.RecordKey{Scope: "s", ID: "warm"}, Fingerprint: "fp", Lease: time.Hour, Retention: time.Hour}); err != nil {
		t.Fatal(err) // the script is known: the claim is one EVALSHA, delayed whole
	}
	p.mode.Store(delayReply)
	if _, err := s.Claim(ctx, req); !errors.Is(err, idempotency.ErrStoreUnavailable) {
		t.Fatalf("claim answered after Timeout = %v, want ErrStoreUnavailable", err)
	}
	// The claim ran (its reply was only late), then the withdrawal.
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := direct.Get(ctx, req.Key)
		if errors.Is(err, idempotency.ErrNotFound) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the late claim is still there: Get = %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if res, err := direct.Claim(ctx, req); err != nil || res.Outcome != idempotency.Claimed {
		t.Fatalf("retry after the withdrawn claim = %+v, %v; want claimed", res, err)
	}
}

// replyRewriter replaces the reply of every script with reply.
type replyRewriter struct{ reply []any }

func (h replyRewriter) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h replyRewriter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		if c, ok := cmd.(interface{ SetVal(any) }); ok && (cmd.Name() == "evalsha" || cmd.Name() == "eval") {
			c.SetVal(h.reply)
			cmd.SetErr(nil)
			return nil
		}
		return err
	}
}
func (h replyRewriter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

// A claim reply with a known kind but no value (a misbehaving proxy or
// server) is an error wrapping ErrStoreUnavailable, not a panic.
func TestMalformedClaimReplyIsAnError(t *testing.T) {
	for _, kind := range []string{"claimed", "takeover", "inflight", "overbudget", "completed", "unknown"} {
		c := redistest.NewServer(t).Client(t)
		s := redisstore.New(c, redisstore.Options{Timeout: generous})
		c.AddHook(replyRewriter{reply: []any{kind}})
		func() {
			defer func() {
				if v := recover(); v != nil {
					t.Fatalf("reply [%s]: Claim panicked: %v", kind, v)
				}
			}()
			_, err := s.Claim(context.Background(), idempotency.ClaimRequest{Key: idempotency.RecordKey{Scope: "s", ID: "k"}, Fingerprint: "fp", Lease: time.Minute, Retention: time.Hour})
			if !errors.Is(err, idempotency.ErrStoreUnavailable) {
				t.Fatalf("reply [%s]: Claim = %v, want ErrStoreUnavailable", kind, err)
			}
		}()
	}
}
