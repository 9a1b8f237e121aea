package ratelimit

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/netip"

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
	// that forwarded them.
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
func ClientIP(opts ClientIPOptions) (KeyFunc, error) {
	h := clientip.XForwardedFor
	switch http.CanonicalHeaderKey(opts.Header) {
	case "", "X-Forwarded-For":
	case "Forwarded":
		h = clientip.Forwarded
	default:
		return nil, errors.New("ratelimit: ClientIPOptions.Header must be X-Forwarded-For or Forwarded")
	}
	bits := opts.IPv6PrefixLen
	if bits == 0 {
		bits = 64
	}
	if bits < 1 || bits > 128 {
		return nil, errors.New("ratelimit: ClientIPOptions.IPv6PrefixLen must be within 1-128")
	}
	res, err := clientip.New(opts.TrustedProxies, h)
	if err != nil {
		return nil, err
	}
	return func(r *http.Request) string {
		a := res.Resolve(r)
		if !a.IsValid() {
			return "ip:" + r.RemoteAddr
		}
		var buf [64]byte
		return string(clientip.AppendKey(append(buf[:0], "ip:"...), a, bits))
	}, nil
}

// maxHeaderKey is the longest header value Header uses as a key verbatim.
const maxHeaderKey = 64

// Header returns a KeyFunc keying requests by the value of the named request
// header, formatted "h:<value>"; a value longer than 64 bytes is replaced by
// its SHA-256, "h#<hex>", so a client cannot make the limiter store
// megabyte keys. Requests without the header are keyed by fallback
// (typically ClientIP's KeyFunc), so omitting the header never escapes the
// limit; a nil fallback puts them all under one shared key.
//
// Short values reach the store as they are (Redis key names): for a secret
// such as an API key, key by a hash of it or by the principal it
// authenticates with your own KeyFunc.
func Header(name string, fallback KeyFunc) KeyFunc {
	name = http.CanonicalHeaderKey(name)
	return func(r *http.Request) string {
		if v := r.Header[name]; len(v) > 0 && v[0] != "" {
			if len(v[0]) > maxHeaderKey {
				sum := sha256.Sum256([]byte(v[0]))
				return "h#" + hex.EncodeToString(sum[:])
			}
			return "h:" + v[0]
		}
		if fallback != nil {
			return fallback(r)
		}
		return "h:"
	}
}
