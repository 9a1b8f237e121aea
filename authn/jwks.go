package authn

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults of JWKSOptions.
const (
	DefaultJWKSTimeout         = 10 * time.Second
	DefaultRefreshInterval     = time.Hour
	DefaultMinRefreshInterval  = time.Minute
	DefaultUnknownKeyWait      = time.Second
	DefaultJWKSMaxBytes        = 1 << 20
	initialRetryInterval       = 5 * time.Second // before any key set was loaded
	maxRSABits                 = 8192
	jwksAccept                 = "application/jwk-set+json, application/json"
	errTextNoUsableKeys        = "authn: the JWK set has no usable signature key"
	errTextRedirectNotFollowed = "authn: JWKS redirects are not followed"
)

// JWKSOptions configure a [JWKS]. The zero value of every field is its
// documented default.
type JWKSOptions struct {
	// Client fetches the key set. Default: a client that does not follow
	// redirects, with the process's proxy settings. Each fetch is bounded
	// by Timeout whatever the client.
	Client *http.Client
	// Timeout bounds one fetch, connection and body included. Default 10s.
	Timeout time.Duration
	// RefreshInterval is the age after which the key set is fetched again,
	// in the background, on its next use. Default 1h.
	RefreshInterval time.Duration
	// MinRefreshInterval is the shortest time between two fetches. A token
	// with an unknown kid triggers a fetch only when the last one is at
	// least this old, so forged kids cannot make the service hammer the
	// issuer, and a failed fetch is retried no sooner. Default 1 min
	// (5s while no key set was ever loaded).
	MinRefreshInterval time.Duration
	// UnknownKeyWait is how long a request with an unknown kid waits for
	// the fetch it triggered (or joined); the fetch goes on after that.
	// Default 1s; the request's context can only shorten it.
	UnknownKeyWait time.Duration
	// MaxBytes bounds the response body. Default 1 MiB.
	MaxBytes int64
	// Logger receives fetch failures (never keys or tokens). Nil means
	// slog.Default() at the time of each record.
	Logger *slog.Logger
}

// JWKS is a remote JSON Web Key Set (RFC 7517), fetched from one URL and
// cached. Use it as VerifierConfig.JWKS.
//
// New does no network I/O: the set is fetched on first use (or by
// [JWKS.Refresh], e.g. at startup), refetched in the background once it is
// older than RefreshInterval, and refetched when a token names an unknown
// kid, at most once per MinRefreshInterval; concurrent triggers share one
// fetch. A failed fetch keeps the keys already loaded. Lookups read an
// immutable map through an atomic pointer: no lock on the verification
// path, and no goroutine runs between fetches.
//
// Only signature keys are used: RSA (2048 to 8192 bits), EC on P-256,
// P-384, P-521, and Ed25519. Symmetric ("oct") keys, keys whose use or
// key_ops exclude signature verification, and keys whose alg does not fit
// their type are ignored. A key with alg verifies that algorithm only; a key
// without alg verifies the algorithms of its type (RSA: RS* and PS*) that
// the Verifier allows. A token without kid is verified with the set's key
// that has no kid, or, when the set holds exactly one usable key, with that
// key. Key URLs in tokens (jku, x5u) and embedded
// keys (jwk, x5c) are never used (RFC 8725 §3.10).
//
// A JWKS is safe for concurrent use; share one per URL.
type JWKS struct {
	url    string
	client *http.Client
	opts   JWKSOptions

	keys atomic.Pointer[keySet]

	mu          sync.Mutex
	inflight    chan struct{} // closed when the running fetch ends; nil when none
	lastAttempt time.Time
	lastErr     error
}

type keySet struct {
	keys    map[string]verifyKey
	fetched time.Time
}

// NewJWKS returns a JWKS for the https URL u (http only for loopback
// addresses, for tests and sidecars).
func NewJWKS(u string, opts JWKSOptions) (*JWKS, error) {
	parsed, err := url.Parse(u)
	if err != nil {
		return nil, fmt.Errorf("authn: JWKS URL: %w", err)
	}
	switch {
	case parsed.Scheme == "https" && parsed.Host != "":
	case parsed.Scheme == "http" && isLoopback(parsed.Hostname()):
	default:
		return nil, errors.New("authn: the JWKS URL must be https (http only on loopback)")
	}
	if opts.Timeout < 0 || opts.RefreshInterval < 0 || opts.MinRefreshInterval < 0 || opts.UnknownKeyWait < 0 || opts.MaxBytes < 0 {
		return nil, errors.New("authn: JWKSOptions durations and sizes must not be negative")
	}
	if opts.Timeout == 0 {
		opts.Timeout = DefaultJWKSTimeout
	}
	if opts.RefreshInterval == 0 {
		opts.RefreshInterval = DefaultRefreshInterval
	}
	if opts.MinRefreshInterval == 0 {
		opts.MinRefreshInterval = DefaultMinRefreshInterval
	}
	if opts.UnknownKeyWait == 0 {
		opts.UnknownKeyWait = DefaultUnknownKeyWait
	}
	if opts.MaxBytes == 0 {
		opts.MaxBytes = DefaultJWKSMaxBytes
	}
	client := opts.Client
	if client == nil {
		client = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error {
			return errors.New(errTextRedirectNotFollowed)
		}}
	}
	return &JWKS{url: u, client: client, opts: opts}, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Refresh fetches the key set now (or waits for the fetch already
// running) and returns its error. Call it at startup to fail fast when the
// issuer is unreachable; it is never required.
func (j *JWKS) Refresh(ctx context.Context) error {
	j.mu.Lock()
	done := j.begin(time.Now())
	j.mu.Unlock()
	select {
	case <-done:
	case <-ctx.Done():
		return ctx.Err()
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.lastErr
}

// lookup returns the key for kid from the cached set. It returns
// errNeedRefresh when the caller should wait for a fetch (no set yet, or an
// unknown kid and a fetch is allowed), and ErrKeysUnavailable when no set
// could be loaded.
func (j *JWKS) lookup(kid string) (verifyKey, bool, error) {
	set := j.keys.Load()
	now := time.Now()
	if set == nil {
		if j.mayFetch(now, nil) {
			return verifyKey{}, false, errNeedRefresh
		}
		return verifyKey{}, false, ErrKeysUnavailable
	}
	if now.Sub(set.fetched) >= j.opts.RefreshInterval {
		j.mu.Lock()
		if j.inflight == nil && now.Sub(j.lastAttempt) >= j.opts.MinRefreshInterval {
			j.begin(now) // in the background: this request uses the cached keys
		}
		j.mu.Unlock()
	}
	if k, ok := set.keys[kid]; ok {
		return k, true, nil
	}
	if j.mayFetch(now, set) {
		return verifyKey{}, false, errNeedRefresh
	}
	return verifyKey{}, false, nil
}

// mayFetch reports whether a fetch may start now (or one is running).
func (j *JWKS) mayFetch(now time.Time, set *keySet) bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.inflight != nil || j.lastAttempt.IsZero() {
		return true
	}
	interval := j.opts.MinRefreshInterval
	if set == nil {
		interval = min(interval, initialRetryInterval)
	}
	return now.Sub(j.lastAttempt) >= interval
}

// refreshForUnknownKey starts or joins a fetch and waits for it at most
// UnknownKeyWait (or until ctx ends).
func (j *JWKS) refreshForUnknownKey(ctx context.Context) error {
	now := time.Now()
	j.mu.Lock()
	done := j.inflight
	if done == nil {
		interval := j.opts.MinRefreshInterval
		if j.keys.Load() == nil {
			interval = min(interval, initialRetryInterval)
		}
		if j.lastAttempt.IsZero() || now.Sub(j.lastAttempt) >= interval {
			done = j.begin(now)
		}
	}
	j.mu.Unlock()
	if done == nil {
		return nil
	}
	t := time.NewTimer(j.opts.UnknownKeyWait)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
	case <-ctx.Done():
	}
	if j.keys.Load() == nil {
		return ErrKeysUnavailable
	}
	return nil
}

// begin starts a fetch unless one is running, and returns the channel
// closed when it ends. j.mu must be held.
func (j *JWKS) begin(now time.Time) chan struct{} {
	if j.inflight != nil {
		return j.inflight
	}
	done := make(chan struct{})
	j.inflight = done
	j.lastAttempt = now
	go func() {
		keys, err := j.fetch()
		j.mu.Lock()
		if err == nil {
			j.keys.Store(&keySet{keys: keys, fetched: time.Now()})
		}
		j.lastErr = err
		j.inflight = nil
		close(done)
		j.mu.Unlock()
		if err != nil {
			logger := j.opts.Logger
			if logger == nil {
				logger = slog.Default()
			}
			logger.LogAttrs(context.Background(), slog.LevelWarn, "authn: JWKS fetch failed; keeping the keys already loaded",
				slog.String("url", j.url), slog.String("error", err.Error()))
		}
	}()
	return done
}

// fetch GETs and parses the key set.
func (j *JWKS) fetch() (map[string]verifyKey, error) {
	ctx, cancel := context.WithTimeout(context.Background(), j.opts.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, j.url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", jwksAccept)
	resp, err := j.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("authn: JWKS answered %d", resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, j.opts.MaxBytes+1))
	if err != nil {
		return nil, err
	}
	if int64(len(body)) > j.opts.MaxBytes {
		return nil, fmt.Errorf("authn: JWKS body larger than %d bytes", j.opts.MaxBytes)
	}
	return parseJWKSet(body)
}

// jwk holds the members of a JWK (RFC 7517, 7518, 8037) this package reads.
type jwk struct {
	Kty    string   `json:"kty"`
	Kid    string   `json:"kid,omitempty"`
	Alg    string   `json:"alg,omitempty"`
	Use    string   `json:"use,omitempty"`
	KeyOps []string `json:"key_ops,omitempty"`
	Crv    string   `json:"crv,omitempty"`
	N      string   `json:"n,omitempty"`
	E      string   `json:"e,omitempty"`
	X      string   `json:"x,omitempty"`
	Y      string   `json:"y,omitempty"`
}

type jwkSet struct {
	Keys []jwk `json:"keys"`
}

// parseJWKSet returns the usable signature keys of a JWK set by kid; the
// key under "" is the only key when there is exactly one.
func parseJWKSet(body []byte) (map[string]verifyKey, error) {
	var set jwkSet
	if err := json.Unmarshal(body, &set); err != nil {
		return nil, fmt.Errorf("authn: JWKS is not a JWK set: %w", err)
	}
	keys := make(map[string]verifyKey, len(set.Keys))
	var only verifyKey
	for _, k := range set.Keys {
		vk, err := k.verifyKey()
		if err != nil {
			continue // unsupported or unusable: other keys may serve
		}
		if _, dup := keys[k.Kid]; dup {
			continue // the first of two keys with one kid wins
		}
		keys[k.Kid] = vk
		only = vk
	}
	if len(keys) == 0 {
		return nil, errors.New(errTextNoUsableKeys)
	}
	if len(keys) == 1 {
		keys[""] = only
	}
	return keys, nil
}

var b64url = base64.RawURLEncoding.Strict()

// verifyKey converts a public JWK into a key golang-jwt verifies with.
func (k *jwk) verifyKey() (verifyKey, error) {
	if k.Use != "" && k.Use != "sig" {
		return verifyKey{}, errors.New("not a signature key")
	}
	if k.KeyOps != nil && !contains(k.KeyOps, "verify") {
		return verifyKey{}, errors.New("key_ops excludes verify")
	}
	var algs algSet
	var key any
	switch k.Kty {
	case "RSA":
		n, err := b64url.DecodeString(k.N)
		if err != nil {
			return verifyKey{}, err
		}
		e, err := b64url.DecodeString(k.E)
		if err != nil || len(e) == 0 || len(e) > 4 || e[0] == 0 {
			return verifyKey{}, errors.New("bad RSA exponent")
		}
		var exp int
		for _, b := range e {
			exp = exp<<8 | int(b)
		}
		pub := &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: exp}
		if bits := pub.N.BitLen(); bits < 2048 || bits > maxRSABits || exp < 3 || exp&1 == 0 {
			return verifyKey{}, errors.New("RSA key out of range")
		}
		algs, key = rsaAlgs, pub
	case "EC":
		var curve elliptic.Curve
		switch k.Crv {
		case "P-256":
			curve, algs = elliptic.P256(), es256
		case "P-384":
			curve, algs = elliptic.P384(), es384
		case "P-521":
			curve, algs = elliptic.P521(), es512
		default:
			return verifyKey{}, errors.New("unsupported curve")
		}
		size := (curve.Params().BitSize + 7) / 8
		x, err1 := b64url.DecodeString(k.X)
		y, err2 := b64url.DecodeString(k.Y)
		if err1 != nil || err2 != nil || len(x) != size || len(y) != size {
			return verifyKey{}, errors.New("bad EC coordinates")
		}
		pub, err := ecdsa.ParseUncompressedPublicKey(curve, append(append([]byte{4}, x...), y...))
		if err != nil {
			return verifyKey{}, err
		}
		key = pub
	case "OKP":
		x, err := b64url.DecodeString(k.X)
		if k.Crv != "Ed25519" || err != nil || len(x) != ed25519.PublicKeySize {
			return verifyKey{}, errors.New("unsupported OKP key")
		}
		algs, key = eddsaAlgs, ed25519.PublicKey(x)
	default:
		return verifyKey{}, errors.New("unsupported key type") // "oct" included: no shared secrets from a URL
	}
	if k.Alg != "" {
		algs &= algBit(k.Alg)
		if algs == 0 {
			return verifyKey{}, errors.New("alg does not fit the key type")
		}
	}
	return verifyKey{algs: algs, key: key}, nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if strings.EqualFold(v, s) {
			return true
		}
	}
	return false
}
