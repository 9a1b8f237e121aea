package redisstore

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/backstop-go/backstop/idempotency"
	"github.com/backstop-go/backstop/idempotency/internal/headercodec"
)

var (
	//go:embed lua/claim.lua
	claimSrc string
	//go:embed lua/extend.lua
	extendSrc string
	//go:embed lua/complete.lua
	completeSrc string
	//go:embed lua/release.lua
	releaseSrc string
	//go:embed lua/get.lua
	getSrc string
	//go:embed lua/withdraw.lua
	withdrawSrc string

	claimScript    = newScript(claimSrc)
	extendScript   = newScript(extendSrc)
	completeScript = newScript(completeSrc)
	releaseScript  = newScript(releaseSrc)
	getScript      = newScript(getSrc)
	withdrawScript = newScript(withdrawSrc)
)

// ErrEvictionPolicy is returned by [Store.CheckPolicy] when a server's
// maxmemory-policy may evict records.
var ErrEvictionPolicy = errors.New("redisstore: Redis maxmemory-policy may evict idempotency records")

// DefaultTimeout is the bound of each call when Options.Timeout is zero.
const DefaultTimeout = 50 * time.Millisecond

// Options configure a [Store]. The zero value of every field is the default
// its comment gives.
type Options struct {
	// Prefix starts every key. It must not contain '{' or '}', which would
	// move the hash tag. Empty means "idempotency".
	Prefix string

	// Timeout bounds every call of the store, go-redis's dialling, waits
	// for a pooled connection and retries included: a call that has no
	// answer by then returns an error wrapping
	// idempotency.ErrStoreUnavailable (the command may still run on the
	// server). It is a context deadline, which go-redis honours on the
	// socket only when the client has ContextTimeoutEnabled: set that, or
	// a server that accepts connections and never answers holds each call
	// for the client's ReadTimeout (3 s by default). Zero means
	// DefaultTimeout, 50 ms; negative means only the caller's context
	// bounds a call. Raise it if Redis is far away or records large
	// responses over a slow link: a completion that keeps timing out is not
	// recorded.
	Timeout time.Duration
}

// Store is an [idempotency.Store] in Redis, shared by every app instance
// that uses the same server and prefix.
//
// # Layout
//
// The records of one caller (one idempotency.RecordKey.Scope, S) share a
// hash tag, so they live in one Cluster slot with the scope's bookkeeping:
//
//	prefix:{S}:<record ID>  hash: the record (state, owner, fence, response)
//	prefix:{S}:x            sorted set: the scope's records by expiry
//	prefix:{S}:u            hash: the scope's bytes held and last fence
//
// Every state transition (claim, extend, complete, release, get) is one
// embedded Lua script on those keys (EVALSHA, with EVAL when the server's
// script cache was emptied) that reads the time from Redis itself, so app
// instances with skewed clocks agree. A replay costs one round trip; a
// first request two (claim, complete), plus one per heartbeat. The claim
// script enforces the scope's budget (ClaimRequest.MaxRecords and
// MaxBytes) and issues fences: the larger of the server's clock in
// microseconds and one more than the scope's last fence. The scope's last
// fence is kept while the scope holds a record; after that, fences follow
// the server's clock, so they keep growing across releases unless the
// clock steps back (an NTP step, a failover to a replica whose clock is
// behind) between a release and the next claim.
//
// # Failures
//
// Each call is bounded by Options.Timeout (on the socket too when the
// client has ContextTimeoutEnabled). The store sends its commands
// with go-redis's retries switched off and retries once itself, at once,
// when a connection it used was lost (a server restart, an idle
// connection dropped by a proxy): its scripts recognise a command they
// already ran. It does not retry a connection that could not be made: a
// server that refuses connections costs a call at most Timeout, while
// go-redis still dials, and less than a millisecond once go-redis's pool
// has given up dialling (after PoolSize failed dials, until a dial
// succeeds again), not the seconds of go-redis's default retries. A claim
// whose answer was lost (a timeout, a connection lost twice) may have been
// made all the same, with an owner token nobody knows: the store withdraws
// it in the background, so the client's retry is not told "in flight"
// until the lease runs out. Every error from Redis wraps
// idempotency.ErrStoreUnavailable; the middleware answers 503 (or runs
// the request, with FailOpen).
//
// # Operational requirements
//
//   - maxmemory-policy noeviction (or a dedicated instance without a
//     memory limit): an evicted claim means a request runs twice.
//     [Store.CheckPolicy] checks it; call it at startup.
//   - memory for the records: a record of a small response takes about
//     1.3 KB in Redis (measured with an 80-byte body: the record, and
//     about 70 bytes for the scope's bookkeeping), so a caller's budget
//     (MaxRecordsPerScope records, MaxBytesPerScope bytes of responses)
//     bounds what one caller can take, and the rate of new keys times the
//     retention what all take. A Redis that runs out of memory refuses new
//     claims (503) until records expire.
//   - persistence (AOF) if records must survive a restart of Redis;
//   - replication is asynchronous, so a failover can lose a claim made
//     just before it. The guarantee is "at most once per key while the
//     record lives, unless Redis loses data"; guard money-moving writes
//     with the fence from idempotency.FromContext as well.
//
// A Store is safe for concurrent use. It does not own the client. Create
// it with [New]; the zero value is not usable.
type Store struct {
	client  redis.UniversalClient
	prefix  string // Prefix + ":{"
	timeout time.Duration
	numbers atomic.Pointer[claimNumbers] // the last claim's, boxed
	// withdrawals counts the withdrawals in progress.
	withdrawals atomic.Int64
}

// claimNumbers are the numeric arguments of claims, boxed once: they come
// from the middleware's options and rarely change, and boxing an int64
// allocates.
type claimNumbers struct {
	values [4]int64
	boxed  [4]any
}

func (s *Store) claimNumbers(lease, retention, maxRecords, maxBytes int64) *[4]any {
	v := [4]int64{lease, retention, maxRecords, maxBytes}
	if n := s.numbers.Load(); n != nil && n.values == v {
		return &n.boxed
	}
	n := &claimNumbers{values: v, boxed: [4]any{lease, retention, maxRecords, maxBytes}}
	s.numbers.Store(n)
	return &n.boxed
}

// New returns a Store that keeps records through client, which may be any
// redis.UniversalClient (single node, Sentinel failover, Cluster, Ring).
// It does no I/O: see [Store.Ping] and [Store.CheckPolicy] for the checks
// to make at startup. New panics when client is nil or the prefix holds a
// brace.
func New(client redis.UniversalClient, o Options) *Store {
	if client == nil {
		panic("redisstore: New called with a nil client")
	}
	if o.Prefix == "" {
		o.Prefix = "idempotency"
	}
	if strings.ContainsAny(o.Prefix, "{}") {
		panic(fmt.Sprintf("redisstore: Options.Prefix %q must not contain '{' or '}'", o.Prefix))
	}
	if o.Timeout == 0 {
		o.Timeout = DefaultTimeout
	}
	return &Store{client: client, prefix: o.Prefix + ":{", timeout: o.Timeout}
}

// Ping checks that Redis answers, through the client the store holds and
// within Options.Timeout: every master of a Cluster and every shard of a
// Ring, since records live on all of them. Its error wraps
// idempotency.ErrStoreUnavailable. A Store can thus serve as a readiness
// check.
func (s *Store) Ping(ctx context.Context) error {
	return s.bounded(ctx, func(ctx context.Context) error {
		return forEachNode(ctx, s.client, func(ctx context.Context, c redis.Cmdable) error {
			return c.Ping(ctx).Err()
		})
	})
}

// CheckPolicy returns an error wrapping [ErrEvictionPolicy] when a server
// (any master of a Cluster, any shard of a Ring) may evict keys, and
// another error when it cannot tell (a managed Redis may forbid CONFIG
// GET). Call it at startup; Options.Timeout bounds it.
func (s *Store) CheckPolicy(ctx context.Context) error {
	return s.bounded(ctx, func(ctx context.Context) error {
		return forEachNode(ctx, s.client, func(ctx context.Context, c redis.Cmdable) error {
			v, err := c.ConfigGet(ctx, "maxmemory-policy").Result()
			if err != nil {
				return fmt.Errorf("redisstore: cannot read maxmemory-policy: %w", err)
			}
			if p := v["maxmemory-policy"]; p != "noeviction" {
				return fmt.Errorf("%w: it is %q; set it to \"noeviction\" or use a dedicated instance", ErrEvictionPolicy, p)
			}
			return nil
		})
	})
}

// forEachNode runs fn on every node that holds records: a keyless command
// goes to one node only.
func forEachNode(ctx context.Context, client redis.UniversalClient, fn func(context.Context, redis.Cmdable) error) error {
	switch c := client.(type) {
	case *redis.ClusterClient:
		return c.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error { return fn(ctx, c) })
	case *redis.Ring:
		return c.ForEachShard(ctx, func(ctx context.Context, c *redis.Client) error { return fn(ctx, c) })
	}
	return fn(ctx, client)
}

// recordKeys are the names of a record and of its scope's bookkeeping,
// substrings of one allocation.
type recordKeys struct {
	record, expiries, usage string
	member                  string // the record's name within its scope
}

func (s *Store) keys(k idempotency.RecordKey) recordKeys {
	// prefix:{S}:ID prefix:{S}:x prefix:{S}:u
	base := len(s.prefix) + len(k.Scope) + 2
	all := s.prefix + k.Scope + "}:" + k.ID + s.prefix + k.Scope + "}:x" + s.prefix + k.Scope + "}:u"
	r := base + len(k.ID)
	return recordKeys{
		record:   all[:r],
		expiries: all[r : r+base+1],
		usage:    all[r+base+1:],
		member:   all[base:r],
	}
}

func ms(d time.Duration) int64 {
	m := d.Milliseconds()
	if m < 1 && d > 0 {
		m = 1
	}
	return m
}

// Claim implements [idempotency.Store].
func (s *Store) Claim(ctx context.Context, req idempotency.ClaimRequest) (idempotency.ClaimResult, error) {
	if req.Lease <= 0 || req.Retention <= 0 {
		return idempotency.ClaimResult{}, errors.New("redisstore: Claim needs a positive lease and retention")
	}
	token := idempotency.NewToken()
	k := s.keys(req.Key)
	n := s.claimNumbers(ms(req.Lease), ms(req.Retention), int64(max(req.MaxRecords, 0)), max(req.MaxBytes, 0))
	reply, _, err := s.run(ctx, claimScript, k, true, token, req.Fingerprint, n[0], n[1], n[2], n[3], k.member)
	if err != nil {
		if mayHaveRun(err) {
			// The claim may have been made with a token nobody will know:
			// it would answer the client's retry with 409 until its lease
			// ran out. Withdraw it, without holding up this answer.
			go s.withdraw(k, token, req.Lease)
		}
		return idempotency.ClaimResult{}, err
	}
	v, _ := reply.([]any)
	bad := func() (idempotency.ClaimResult, error) {
		return idempotency.ClaimResult{}, fmt.Errorf("redisstore: %w: unexpected claim reply %v", idempotency.ErrStoreUnavailable, reply)
	}
	if len(v) == 0 {
		return bad()
	}
	kind, _ := v[0].(string)
	switch kind {
	case "claimed", "takeover":
		if len(v) != 2 {
			return bad()
		}
		fence, ok := v[1].(int64)
		if !ok || fence <= 0 {
			return bad()
		}
		return idempotency.ClaimResult{Outcome: idempotency.Claimed, Owner: idempotency.Owner{Token: token, Fence: fence}, Takeover: kind == "takeover"}, nil
	case "mismatch":
		return idempotency.ClaimResult{Outcome: idempotency.Mismatch}, nil
	case "inflight", "overbudget":
		if len(v) != 2 {
			return bad()
		}
		left, ok := v[1].(int64)
		if !ok {
			return bad()
		}
		if kind == "overbudget" {
			return idempotency.ClaimResult{Outcome: idempotency.OverBudget, RetryAfter: time.Duration(max(left, 0)) * time.Millisecond}, nil
		}
		return idempotency.ClaimResult{Outcome: idempotency.InFlight, LeaseRemaining: time.Duration(left) * time.Millisecond}, nil
	case "completed":
		if len(v) != 5 {
			return bad()
		}
		resp, err := decodeResponse(v[1], v[2], v[3], v[4])
		if err != nil {
			return idempotency.ClaimResult{}, err
		}
		return idempotency.ClaimResult{Outcome: idempotency.Completed, Response: resp}, nil
	}
	return bad()
}

// maxWithdrawals bounds the withdrawals a Store retries at once; beyond
// it, a withdrawal is tried once.
const maxWithdrawals = 1024

// withdraw deletes the pending record that token holds, or, when the claim
// has not run (yet), marks the record so that the claim takes nothing when
// it does: a claim sent to a stalled server runs when the server resumes,
// after its caller gave up. It tries until Redis answers, each try within
// Timeout, with backoff, for at most a lease: a stalled server that answers
// neither the claim nor a first withdrawal must not keep the claim for a
// lease once it resumes.
func (s *Store) withdraw(k recordKeys, token string, lease time.Duration) {
	once := s.withdrawals.Add(1) > maxWithdrawals
	defer s.withdrawals.Add(-1)
	deadline := time.Now().Add(lease)
	var t *time.Timer
	for delay := 10 * time.Millisecond; ; delay = min(2*delay, time.Second) {
		_, _, err := s.run(context.Background(), withdrawScript, k, true, token, k.member, ms(lease))
		if err == nil || once || errors.Is(err, redis.ErrClosed) || time.Now().Add(delay).After(deadline) {
			return // a failure leaves the claim, if it runs, for its lease
		}
		if t == nil {
			t = time.NewTimer(delay)
			defer t.Stop()
		} else {
			t.Reset(delay)
		}
		<-t.C
	}
}

// owned maps the reply of extend, complete and release.
func owned(reply any, err error) error {
	if err != nil {
		return err
	}
	switch n, _ := reply.(int64); n {
	case 1:
		return nil
	case 0:
		return idempotency.ErrNotOwner
	}
	return fmt.Errorf("redisstore: %w: unexpected reply %v", idempotency.ErrStoreUnavailable, reply)
}

// Extend implements [idempotency.Store].
func (s *Store) Extend(ctx context.Context, key idempotency.RecordKey, owner idempotency.Owner, lease time.Duration) error {
	k := s.keys(key)
	reply, _, err := s.run(ctx, extendScript, k, true, owner.Token, owner.Fence, ms(lease), k.member)
	return owned(reply, err)
}

// Complete implements [idempotency.Store].
func (s *Store) Complete(ctx context.Context, key idempotency.RecordKey, owner idempotency.Owner, resp idempotency.Response, retention time.Duration) error {
	k := s.keys(key)
	reply, resent, err := s.run(ctx, completeScript, k, true, owner.Token, owner.Fence,
		resp.Status, headercodec.Encode(resp.Header), resp.Body, string(resp.NotReplayable), ms(retention), k.member)
	if n, _ := reply.(int64); n == 2 && err == nil {
		if resent {
			return nil // the first attempt completed it before its connection was lost
		}
		return idempotency.ErrNotOwner // a second completion by the owner
	}
	return owned(reply, err)
}

// Release implements [idempotency.Store].
func (s *Store) Release(ctx context.Context, key idempotency.RecordKey, owner idempotency.Owner) error {
	k := s.keys(key)
	reply, _, err := s.run(ctx, releaseScript, k, true, owner.Token, owner.Fence, k.member)
	return owned(reply, err)
}

// Get implements [idempotency.Store].
func (s *Store) Get(ctx context.Context, key idempotency.RecordKey) (idempotency.Record, error) {
	reply, _, err := s.run(ctx, getScript, s.keys(key), false)
	if err != nil {
		return idempotency.Record{}, err
	}
	v, _ := reply.([]any)
	if len(v) == 0 {
		return idempotency.Record{}, idempotency.ErrNotFound
	}
	if len(v) != 8 {
		return idempotency.Record{}, fmt.Errorf("redisstore: %w: unexpected get reply of %d elements", idempotency.ErrStoreUnavailable, len(v))
	}
	st, _ := v[0].(string)
	fp, _ := v[1].(string)
	fenceS, _ := v[2].(string)
	left, _ := v[3].(int64)
	fence, err := strconv.ParseInt(fenceS, 10, 64)
	if err != nil {
		return idempotency.Record{}, fmt.Errorf("redisstore: %w: corrupt fence %q", idempotency.ErrStoreUnavailable, fenceS)
	}
	rec := idempotency.Record{Fingerprint: fp, Fence: fence}
	switch st {
	case "p":
		rec.State = idempotency.Pending
		rec.LeaseRemaining = time.Duration(left) * time.Millisecond
	case "d":
		rec.State = idempotency.Done
		rec.Response, err = decodeResponse(v[4], v[5], v[6], v[7])
		if err != nil {
			return idempotency.Record{}, err
		}
	default:
		return idempotency.Record{}, fmt.Errorf("redisstore: %w: corrupt state %q", idempotency.ErrStoreUnavailable, st)
	}
	return rec, nil
}

func decodeResponse(code, hdr, body, reason any) (idempotency.Response, error) {
	c, _ := code.(string)
	h, _ := hdr.(string)
	b, _ := body.(string)
	r, _ := reason.(string)
	status, err := strconv.Atoi(c)
	if err != nil {
		return idempotency.Response{}, fmt.Errorf("redisstore: %w: corrupt status %q", idempotency.ErrStoreUnavailable, c)
	}
	header, err := headercodec.Decode(h)
	if err != nil {
		return idempotency.Response{}, fmt.Errorf("redisstore: %w: %w", idempotency.ErrStoreUnavailable, err)
	}
	resp := idempotency.Response{Status: status, Header: header, NotReplayable: idempotency.Reason(r)}
	if b != "" {
		resp.Body = []byte(b)
	}
	return resp, nil
}

var _ idempotency.Store = (*Store)(nil)
