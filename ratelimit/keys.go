package ratelimit

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/netip"
	"strconv"

	"github.com/backstop-go/backstop/internal/clientip"
)

// KeyFunc returns the subject a request is limited as: a client address, an
// API key, an authenticated principal. It runs on every request and must be
// fast and safe for concurrent use. The middleware never skips limiting:
// whatever a KeyFunc returns, including "", is a key. Keys must not be
// secrets in clear: they reach the store (Redis key names) although never
// logs or metrics; hash API keys first.
type KeyFunc func(r *http.Request) string

// ClientIPOptions configures ClientIP.
type ClientIPOptions struct {
	// TrustedProxies lists the networks of your own reverse proxies. Empty
	// (the default) means the socket peer address is the client and no
	// header is read: safe when the service is exposed directly. When the
	// peer is in one of these networks, the forwarding header is read from
	// the right, skipping addresses in these networks, and the first other
	// address is the client. Entries a proxy could not have written
	// (garbage, "unknown", obfuscated names) stop the walk at the proxy
	// that forwarded them. A Forwarded value that breaks the RFC 7239
	// grammar anywhere (an unbalanced quote, a bad escape, a malformed
	// element, an unquoted IPv6 address or port) is not read at all: the
	// socket peer is then the client. Nothing is allocated however long
	// the header: X-Forwarded-For costs only the hops examined, a Forwarded
	// value one pass over its bytes.
	TrustedProxies []netip.Prefix
	// Header is "X-Forwarded-For" (default) or "Forwarded" (RFC 7239 for=).
	Header string
	// IPv6PrefixLen groups IPv6 clients by network: one host typically owns
	// a whole /64, so limiting single addresses would be trivial to dodge.
	// Default 64; 128 limits single addresses.
	IPv6PrefixLen int
}

// ClientIP returns a KeyFunc keying requests by client address, formatted
// "ip:192.0.2.1" or "ip:2001:db8:1:2::/64". A RemoteAddr that is not an
// address (a custom listener) is used as the key verbatim, prefixed "ip:".
// It returns the KeyFunc alone, so it can be used inline:
//
//	m := ratelimit.New(limiter, ratelimit.ClientIP(ratelimit.ClientIPOptions{}), ratelimit.Options{})
//
// ClientIP panics on options that cannot be right: a Header other than
// X-Forwarded-For or Forwarded, an IPv6PrefixLen outside 1-128, an invalid
// or IPv4-mapped trusted prefix (parse configuration with
// netip.ParsePrefix, which reports errors, before calling it).
func ClientIP(opts ClientIPOptions) KeyFunc {
	h := clientip.XForwardedFor
	switch http.CanonicalHeaderKey(opts.Header) {
	case "", "X-Forwarded-For":
	case "Forwarded":
		h = clientip.Forwarded
	default:
		panic("ratelimit: ClientIP: ClientIPOptions.Header must be X-Forwarded-For or Forwarded, not " + strconv.Quote(opts.Header))
	}
	bits := opts.IPv6PrefixLen
	if bits == 0 {
		bits = 64
	}
	if bits < 1 || bits > 128 {
		panic("ratelimit: ClientIP: ClientIPOptions.IPv6PrefixLen must be within 1-128, not " + strconv.Itoa(bits))
	}
	res, err := clientip.New(opts.TrustedProxies, h)
	if err != nil {
		panic("ratelimit: ClientIP: ClientIPOptions.TrustedProxies: " + err.Error())
	}
	return func(r *http.Request) string {
		a := res.Resolve(r)
		if !a.IsValid() {
			return "ip:" + r.RemoteAddr
		}
		var buf [64]byte
		return string(clientip.AppendKey(append(buf[:0], "ip:"...), a, bits))
	}
}

// maxHeaderKey is the longest subject Header uses in a key verbatim.
const maxHeaderKey = 64

// Header returns a KeyFunc keying requests by the subject that identify
// returns for the value of the named request header, formatted
// "h:<subject>"; a subject longer than 64 bytes is replaced by its SHA-256,
// "h#<hex>". Requests without the header, and requests whose value identify
// does not recognise (ok false), are keyed by fallback, typically ClientIP.
//
// Keying by a header's raw value is a trap: a client that makes up a new
// value for each request gets a fresh budget each time, and is never
// limited. So identify must recognise only values your service issued (an
// API key found in your key store, a token whose signature verifies) and
// return a stable subject for them, such as the account the API key
// belongs to. Return the account rather than the key itself: subjects reach
// the store (Redis key names) in clear, although never logs or metrics.
// When an authentication middleware runs first, key by the principal it
// found with your own KeyFunc instead.
//
// identify runs on every request that carries the header, and must be fast
// and safe for concurrent use. Header panics if identify or fallback is
// nil.
func Header(name string, identify func(value string) (subject string, ok bool), fallback KeyFunc) KeyFunc {
	if identify == nil {
		panic("ratelimit: Header: nil identify function")
	}
	if fallback == nil {
		panic("ratelimit: Header: nil fallback KeyFunc")
	}
	name = http.CanonicalHeaderKey(name)
	return func(r *http.Request) string {
		if v := r.Header[name]; len(v) > 0 && v[0] != "" {
			if subject, ok := identify(v[0]); ok {
				if len(subject) > maxHeaderKey {
					sum := sha256.Sum256([]byte(subject))
					return "h#" + hex.EncodeToString(sum[:])
				}
				return "h:" + subject
			}
		}
		return fallback(r)
	}
}
