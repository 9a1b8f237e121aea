package redisstore

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/backstop-go/backstop/idempotency"
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

	claimScript    = redis.NewScript(claimSrc)
	extendScript   = redis.NewScript(extendSrc)
	completeScript = redis.NewScript(completeSrc)
	releaseScript  = redis.NewScript(releaseSrc)
	getScript      = redis.NewScript(getSrc)
)

// ErrEvictionPolicy is returned by New, when Options.RefuseEvictingPolicy is
// set, if the server's maxmemory-policy may evict records.
var ErrEvictionPolicy = errors.New("redisstore: Redis maxmemory-policy may evict idempotency records")

// Options configure a [Store]. The zero value of every field is the default
// its comment gives.
type Options struct {
	// Prefix starts every key, followed by ":{" + record key + "}". It must
	// not contain '{' or '}', which would move the hash tag. Empty means
	// "idempotency".
	Prefix string

	// RefuseEvictingPolicy makes New fail with [ErrEvictionPolicy] when the
	// server's maxmemory-policy is not "noeviction". By default New only
	// logs a warning.
	RefuseEvictingPolicy bool

	// SkipPolicyCheck skips the maxmemory-policy check, for managed Redis
	// services that forbid CONFIG GET.
	SkipPolicyCheck bool

	// Logger receives the policy warning. Nil means slog.Default().
	Logger *slog.Logger
}

// Store is an [idempotency.Store] in Redis, shared by every app instance
// that uses the same server and prefix.
//
// Each record is one hash under the key prefix:{record-key}, so every
// record lives in one Cluster slot, and every state transition (claim,
// extend, complete, release, get) is one embedded Lua script on that one key
// (EVALSHA, with EVAL when the server's script cache was emptied). Leases
// are measured with the server's clock (TIME inside the scripts), so app
// instances with skewed clocks agree. A replay costs one round trip; a
// first request two (claim, complete), plus one per heartbeat.
//
// Operational requirements, which New checks where it can:
//   - maxmemory-policy noeviction (or a dedicated instance without a
//     memory limit): an evicted claim means a request runs twice;
//   - persistence (AOF) if records must survive a restart of Redis;
//   - replication is asynchronous, so a failover can lose a claim made
//     just before it. The guarantee is "at most once per key while the
//     record lives, unless Redis loses data"; guard money-moving writes
//     with the fence from idempotency.FromContext as well.
//
// A Store is safe for concurrent use. It does not own the client.
type Store struct {
	client redis.UniversalClient
	prefix string
}

// New returns a Store that keeps records through client, which may be any
// redis.UniversalClient (single node, Sentinel failover, Cluster, Ring).
//
// It checks the server's maxmemory-policy (unless SkipPolicyCheck) and
// warns, or fails when RefuseEvictingPolicy is set, if records could be
// evicted; a server it cannot ask gives a warning. It also loads the scripts
// so that the first requests need no EVAL fallback. It fails when the
// prefix contains a brace.
func New(ctx context.Context, client redis.UniversalClient, o Options) (*Store, error) {
	if client == nil {
		return nil, errors.New("redisstore: nil client")
	}
	if o.Prefix == "" {
		o.Prefix = "idempotency"
	}
	if strings.ContainsAny(o.Prefix, "{}") {
		return nil, fmt.Errorf("redisstore: prefix %q must not contain '{' or '}'", o.Prefix)
	}
	logger := o.Logger
	if logger == nil {
		logger = slog.Default()
	}
	if !o.SkipPolicyCheck {
		if err := checkPolicy(ctx, client); err != nil {
			if o.RefuseEvictingPolicy && errors.Is(err, ErrEvictionPolicy) {
				return nil, err
			}
			logger.LogAttrs(ctx, slog.LevelWarn, "redisstore: idempotency records may be lost", slog.Any("error", err))
		}
	}
	for _, s := range []*redis.Script{claimScript, extendScript, completeScript, releaseScript, getScript} {
		_ = s.Load(ctx, client).Err() // best effort: Run falls back to EVAL
	}
	return &Store{client: client, prefix: o.Prefix + ":{"}, nil
}

// checkPolicy returns an error wrapping ErrEvictionPolicy when a node may
// evict keys, or another error when it cannot tell.
func checkPolicy(ctx context.Context, client redis.UniversalClient) error {
	check := func(ctx context.Context, c redis.Cmdable) error {
		v, err := c.ConfigGet(ctx, "maxmemory-policy").Result()
		if err != nil {
			return fmt.Errorf("redisstore: cannot read maxmemory-policy (set SkipPolicyCheck if the server forbids CONFIG): %w", err)
		}
		if p := v["maxmemory-policy"]; p != "noeviction" {
			return fmt.Errorf("%w: it is %q; set it to \"noeviction\" or use a dedicated instance", ErrEvictionPolicy, p)
		}
		return nil
	}
	switch c := client.(type) {
	case *redis.ClusterClient:
		return c.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error { return check(ctx, c) })
	case *redis.Ring:
		// A keyless command goes to one shard only; every shard holds records.
		return c.ForEachShard(ctx, func(ctx context.Context, c *redis.Client) error { return check(ctx, c) })
	}
	return check(ctx, client)
}

func (s *Store) key(k string) string { return s.prefix + k + "}" }

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
	v, err := claimScript.Run(ctx, s.client, []string{s.key(req.Key)}, token, req.Fingerprint, ms(req.Lease), ms(req.Retention)).Slice()
	if err != nil {
		return idempotency.ClaimResult{}, err
	}
	bad := func() (idempotency.ClaimResult, error) {
		return idempotency.ClaimResult{}, fmt.Errorf("redisstore: unexpected claim reply %v", v)
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
		if !ok {
			return bad()
		}
		return idempotency.ClaimResult{Outcome: idempotency.Claimed, Owner: idempotency.Owner{Token: token, Fence: fence}, Takeover: kind == "takeover"}, nil
	case "mismatch":
		return idempotency.ClaimResult{Outcome: idempotency.Mismatch}, nil
	case "inflight":
		if len(v) != 2 {
			return bad()
		}
		left, ok := v[1].(int64)
		if !ok {
			return bad()
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

func owned(n int64, err error) error {
	if err != nil {
		return err
	}
	if n != 1 {
		return idempotency.ErrNotOwner
	}
	return nil
}

// Extend implements [idempotency.Store].
func (s *Store) Extend(ctx context.Context, key string, owner idempotency.Owner, lease time.Duration) error {
	return owned(extendScript.Run(ctx, s.client, []string{s.key(key)}, owner.Token, owner.Fence, ms(lease)).Int64())
}

// Complete implements [idempotency.Store].
func (s *Store) Complete(ctx context.Context, key string, owner idempotency.Owner, resp idempotency.Response, retention time.Duration) error {
	return owned(completeScript.Run(ctx, s.client, []string{s.key(key)}, owner.Token, owner.Fence,
		resp.Status, encodeHeader(resp.Header), resp.Body, resp.NotReplayable, ms(retention)).Int64())
}

// Release implements [idempotency.Store].
func (s *Store) Release(ctx context.Context, key string, owner idempotency.Owner) error {
	return owned(releaseScript.Run(ctx, s.client, []string{s.key(key)}, owner.Token, owner.Fence).Int64())
}

// Get implements [idempotency.Store].
func (s *Store) Get(ctx context.Context, key string) (idempotency.Record, error) {
	v, err := getScript.Run(ctx, s.client, []string{s.key(key)}).Slice()
	if err != nil {
		return idempotency.Record{}, err
	}
	if len(v) == 0 {
		return idempotency.Record{}, idempotency.ErrNotFound
	}
	if len(v) != 8 {
		return idempotency.Record{}, fmt.Errorf("redisstore: unexpected get reply of %d elements", len(v))
	}
	st, _ := v[0].(string)
	fp, _ := v[1].(string)
	fenceS, _ := v[2].(string)
	left, _ := v[3].(int64)
	fence, err := strconv.ParseInt(fenceS, 10, 64)
	if err != nil {
		return idempotency.Record{}, fmt.Errorf("redisstore: corrupt fence %q", fenceS)
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
		return idempotency.Record{}, fmt.Errorf("redisstore: corrupt state %q", st)
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
		return idempotency.Response{}, fmt.Errorf("redisstore: corrupt status %q", c)
	}
	header, err := decodeHeader(h)
	if err != nil {
		return idempotency.Response{}, err
	}
	resp := idempotency.Response{Status: status, Header: header, NotReplayable: r}
	if b != "" {
		resp.Body = []byte(b)
	}
	return resp, nil
}

var _ idempotency.Store = (*Store)(nil)
