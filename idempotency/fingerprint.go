package idempotency

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"net/http"
	"slices"
	"strings"
)

// FingerprintFunc returns the fingerprint of a request: two requests sent
// with the same key must have equal fingerprints, or the second is answered
// with [ErrKeyReused]. body is the request body, read up to
// Options.MaxBodyBytes (r.Body is consumed at that point; the handler gets
// it back); the function must not keep body or r. An error is
// passed to Options.ErrorHandler (return a *problem.Problem for a client
// error).
type FingerprintFunc func(r *http.Request, body []byte) (string, error)

// Fingerprint is the default [FingerprintFunc]: the hex SHA-256 of the
// length-prefixed method, path (as sent, escaped: /a%2Fb and /a/b are
// different resources), canonical query and body.
//
// The canonical query is the query's parameters sorted by name, so their
// order does not matter, while repeated values keep their order; names and
// values are compared as sent (escaped). The body is hashed byte for byte:
// a client must resend the same bytes, which every retrying HTTP client
// does. Headers are not part of it. To ignore volatile fields or canonicalise JSON, write a
// FingerprintFunc and hash what matters.
func Fingerprint(r *http.Request, body []byte) (string, error) {
	q := canonicalQuery(r.URL.RawQuery)
	var buf [256]byte
	b := appendField(buf[:0], r.Method)
	b = appendField(b, r.URL.EscapedPath())
	b = appendField(b, q)
	b = binary.BigEndian.AppendUint64(b, uint64(len(body)))
	h := sha256.New()
	h.Write(b)
	h.Write(body)
	var sum [sha256.Size]byte
	return hexString(h.Sum(sum[:0])), nil
}

// canonicalQuery returns q with its parameters stably sorted by name, and
// q itself (no allocation) when they already are.
func canonicalQuery(q string) string {
	sorted := true
	prev := ""
	n := 0
	for rest := q; rest != ""; {
		var part string
		part, rest, _ = strings.Cut(rest, "&")
		if part == "" {
			sorted = false // drop empty parts
			continue
		}
		n++
		name, _, _ := strings.Cut(part, "=")
		if name < prev {
			sorted = false
		}
		prev = name
	}
	if sorted {
		return q
	}
	parts := make([]string, 0, n)
	for part := range strings.SplitSeq(q, "&") {
		if part != "" {
			parts = append(parts, part)
		}
	}
	slices.SortStableFunc(parts, func(a, b string) int {
		an, _, _ := strings.Cut(a, "=")
		bn, _, _ := strings.Cut(b, "=")
		return strings.Compare(an, bn)
	})
	return strings.Join(parts, "&")
}

func hexString(sum []byte) string {
	var b [2 * sha256.Size]byte
	hex.Encode(b[:], sum)
	return string(b[:2*len(sum)])
}

// recordKey returns the record key for a client key within a scope:
// Scope is the first 128 bits, in hex, of the SHA-256 of the
// length-prefixed scope, and ID those of the SHA-256 of those 128 bits and
// the length-prefixed key. Neither the raw key nor the caller's identity
// is stored or sent to the store, a long scope (a bearer token) is hashed
// once, and both strings share one allocation of 64 bytes. 128 bits keep
// records apart: reaching another caller's record takes a second
// preimage, and a collision among one's own records (2^64 work) only
// merges them.
func recordKey(scope, key string) RecordKey {
	const half = sha256.Size / 2
	var buf [512]byte
	scopeSum := sha256.Sum256(appendField(buf[:0], scope))
	// The kept half of the scope's digest and the key, uvarint-prefixed:
	// with a UUID key, 53 bytes, one SHA-256 block.
	b := append(buf[:0], scopeSum[:half]...)
	b = binary.AppendUvarint(b, uint64(len(key)))
	b = append(b, key...)
	idSum := sha256.Sum256(b)
	var h [4 * half]byte
	hex.Encode(h[:2*half], scopeSum[:half])
	hex.Encode(h[2*half:], idSum[:half])
	both := string(h[:])
	return RecordKey{Scope: both[:2*half], ID: both[2*half:]}
}

func appendField(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint64(b, uint64(len(s)))
	return append(b, s...)
}
