package client

import (
	"crypto/rand"
	"encoding/base32"
)

// HeaderKey is the request header that carries the idempotency key.
const HeaderKey = "Idempotency-Key"

var keyEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// newKey returns a fresh Idempotency-Key field value: 128 bits from
// crypto/rand in base32 (26 characters), as a quoted Structured Field
// String, the form draft-ietf-httpapi-idempotency-key-header-07 §2.1
// requires. Servers that take the key verbatim (Stripe's form) see the same
// 28 bytes on every attempt, which is all they need.
func newKey() string {
	var raw [16]byte
	_, _ = rand.Read(raw[:]) // never fails (crypto/rand, Go 1.24+)
	var b [28]byte
	b[0], b[27] = '"', '"'
	keyEncoding.Encode(b[1:27], raw[:])
	return string(b[:])
}
