package pagination

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
)

// CodecOptions are the optional settings of a [Codec]. The zero value is
// valid: signed (readable) cursors that never expire, of at most 1024
// characters, on the system clock.
type CodecOptions struct {
	// Encrypt makes Encode seal cursors with AES-256-GCM instead of signing
	// them with HMAC-SHA256, so clients cannot read the sort-key values
	// (a salary, an email) nor the issue time. Nonces are random (96 bits):
	// rotate the key before it has sealed 2^32 cursors. Decode accepts both
	// kinds whatever this setting, so it can be switched on without
	// breaking cursors in flight.
	Encrypt bool
	// TTL is how long a cursor stays valid after it was issued. Zero means
	// forever. Cursors record their issue time to the second, so a cursor
	// stays valid for at least TTL and for less than TTL plus a second.
	TTL time.Duration
	// Now is the clock. Nil means time.Now.
	Now func() time.Time
	// MaxLength is the largest cursor, in characters, that Decode accepts
	// and Encode produces. Zero means 1024; it cannot be below 64.
	MaxLength int
}

func (o CodecOptions) withDefaults() CodecOptions {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.MaxLength == 0 {
		o.MaxLength = 1024
	}
	return o
}

// Wire format, version 1. Everything is base64.RawURLEncoding-encoded.
//
//	header   version (1) | key id | mode (modeSigned or modeSealed)
//	body     flags | uvarint issued-at (unix seconds) | sort fingerprint (4)
//	         | filter fingerprint (8) | value count | tagged values
//	signed   header | body | HMAC-SHA256(header|body)[:16]
//	sealed   header | nonce (12) | AES-256-GCM(body, additional data = header)
const (
	formatVersion = 1
	modeSigned    = 0
	modeSealed    = 1
	headerLen     = 3
	tagLen        = 16
	nonceLen      = 12
	flagBackward  = 1 << 0
	minBodyLen    = 1 + 1 + 4 + 8 + 1
)

// Codec encodes [Cursor] values into opaque, URL-safe strings and decodes
// them back, verifying their integrity, age, and that they belong to the
// sort and filter of the request.
//
// Cursors are signed with the first of the codec's secrets and verified with
// whichever secret their key id names, which makes key rotation a two-step
// deploy: add the new key first in the list (it signs from then on), then
// remove the old one once the TTL of the last cursors it signed has passed.
//
// A cursor is base64url (RFC 4648 §5, unpadded) over a compact binary
// layout: a format version, the key id, the mode (signed or sealed), then
// the direction, the issue time in Unix seconds, a 4-byte fingerprint of the
// sort, an 8-byte fingerprint of the filter and the tagged sort-key values;
// then a 16-byte HMAC-SHA256 tag over all of it, or, sealed, a random nonce
// and the AES-256-GCM ciphertext with the header as additional data. A
// two-key cursor (a timestamp and a 60-bit id) is 80 characters signed and
// 96 sealed. The layout is not an API: treat cursors as opaque.
//
// Create codecs with [NewCodec]; the zero value is not usable. A Codec is
// safe for concurrent use.
type Codec struct {
	signer *codecKey
	keys   [256]*codecKey
	opts   CodecOptions
}

// NewCodec returns a codec that signs (or seals) with secrets[0] and accepts
// cursors from any of secrets. It fails without secrets, with a key shorter
// than MinSecretLength, with duplicate ids, a negative TTL or a MaxLength
// below 64.
func NewCodec(secrets []Secret, opts CodecOptions) (*Codec, error) {
	if len(secrets) == 0 {
		return nil, errors.New("pagination: NewCodec needs at least one secret")
	}
	if opts.TTL < 0 {
		return nil, errors.New("pagination: negative TTL")
	}
	if opts.MaxLength != 0 && opts.MaxLength < 64 {
		return nil, errors.New("pagination: MaxLength below 64")
	}
	c := &Codec{opts: opts.withDefaults()}
	for _, s := range secrets {
		if len(s.Key) < MinSecretLength {
			return nil, fmt.Errorf("pagination: secret %d is %d bytes, want at least %d", s.ID, len(s.Key), MinSecretLength)
		}
		if c.keys[s.ID] != nil {
			return nil, fmt.Errorf("pagination: secret id %d repeats", s.ID)
		}
		k, err := newCodecKey(s)
		if err != nil {
			return nil, err
		}
		c.keys[s.ID] = k
	}
	c.signer = c.keys[secrets[0].ID]
	return c, nil
}

// Encode returns the cursor as an opaque string bound to sort s and to the
// filter parameters: the same s and filter must be given to Decode. filter
// holds whatever else shapes the list (filter values, the tenant, the
// resource name when two endpoints share a sort); the parts are hashed in
// order, length-prefixed.
//
// Encode fails when cur.Values does not hold one supported, non-nil value
// per sort key (see [Cursor]), or when the cursor would be longer than the
// codec's MaxLength. These are programming errors, not client errors.
func (c *Codec) Encode(s *Sort, cur Cursor, filter ...string) (string, error) {
	return c.encode(s, cur, filterFingerprint(filter))
}

func (c *Codec) encode(s *Sort, cur Cursor, filterFP [8]byte) (string, error) {
	if len(cur.Values) != len(s.keys) {
		return "", fmt.Errorf("pagination: cursor has %d values for a sort of %d keys", len(cur.Values), len(s.keys))
	}
	if cur.Direction > Backward {
		return "", fmt.Errorf("pagination: invalid %v", cur.Direction)
	}
	sc := scratchPool.Get().(*scratch)
	defer scratchPool.Put(sc)
	mode := byte(modeSigned)
	if c.opts.Encrypt {
		mode = modeSealed
	}
	buf := append(sc.b[:0], formatVersion, c.signer.id, mode)
	if mode == modeSealed {
		buf = buf[:headerLen+nonceLen]
		rand.Read(buf[headerLen:])
	}
	bodyStart := len(buf)
	flags := byte(0)
	if cur.Direction == Backward {
		flags |= flagBackward
	}
	buf = append(buf, flags)
	buf = binary.AppendUvarint(buf, uint64(max(c.opts.Now().Unix(), 0)))
	buf = append(buf, s.fingerprint[:]...)
	buf = append(buf, filterFP[:]...)
	buf = append(buf, byte(len(cur.Values)))
	for i, v := range cur.Values {
		var err error
		if buf, err = appendValue(buf, v); err != nil {
			return "", fmt.Errorf("%w (sort key %q, value %d)", err, s.keys[i].Column, i)
		}
	}
	if mode == modeSealed {
		body := buf[bodyStart:]
		sealed := c.signer.aead.Seal(body[:0], buf[headerLen:bodyStart], body, buf[:headerLen])
		buf = append(buf[:bodyStart], sealed...) // a no-op copy when sealed in place
	} else {
		buf = c.signer.mac(buf, buf)[:len(buf)+tagLen]
	}
	if base64.RawURLEncoding.EncodedLen(len(buf)) > c.opts.MaxLength {
		return "", fmt.Errorf("pagination: cursor would be %d characters, longer than MaxLength %d",
			base64.RawURLEncoding.EncodedLen(len(buf)), c.opts.MaxLength)
	}
	var out [512]byte
	enc := out[:0]
	enc = base64.RawURLEncoding.AppendEncode(enc, buf)
	return string(enc), nil
}

// scratch is working memory for one Encode or Decode: the MAC and the
// cipher take their input through interfaces, so a stack buffer would
// escape to the heap on every call.
type scratch struct {
	b   [768]byte // raw cursor bytes: 1024 characters of base64
	tok [1024]byte
	sum [sha256.Size]byte
}

var scratchPool = sync.Pool{New: func() any { return new(scratch) }}

// src returns token as bytes, in sc when it fits.
func (sc *scratch) src(token string) []byte {
	if len(token) <= len(sc.tok) {
		return sc.tok[:copy(sc.tok[:], token)]
	}
	return []byte(token)
}

// strict rejects encodings whose unused trailing bits are not zero, so a
// byte sequence has exactly one spelling.
var strict = base64.RawURLEncoding.Strict()

// Decode verifies token and returns the cursor it holds. The error is always
// a *problem.Problem of status 400 (see [ErrCursorMalformed] and the types
// after it), whatever the input:
//
//   - ErrCursorMalformed: empty, longer than MaxLength, not base64url,
//     truncated, unknown version or undecodable contents;
//   - ErrCursorUnknownKey: signed with a key id the codec does not hold;
//   - ErrCursorTampered: the signature or the encryption does not verify;
//   - ErrCursorExpired: older than the TTL;
//   - ErrCursorSortMismatch, ErrCursorFilterMismatch: issued for another
//     sort or other filter parameters than s and filter.
//
// The checks run in that order; only a cursor that verifies is looked into.
func (c *Codec) Decode(token string, s *Sort, filter ...string) (Cursor, error) {
	return c.decode(token, s, filterFingerprint(filter))
}

func (c *Codec) decode(token string, s *Sort, filterFP [8]byte) (Cursor, error) {
	if token == "" {
		return Cursor{}, ErrCursorMalformed.New("The cursor is empty.")
	}
	if len(token) > c.opts.MaxLength {
		return Cursor{}, ErrCursorMalformed.New("The cursor is too long.")
	}
	if strings.ContainsAny(token, "\r\n") {
		// The decoder skips line breaks; refuse them so a cursor has
		// exactly one spelling.
		return Cursor{}, ErrCursorMalformed.New("The cursor is not base64url.")
	}
	sc := scratchPool.Get().(*scratch)
	defer scratchPool.Put(sc)
	raw := sc.b[:0]
	if strict.DecodedLen(len(token)) > len(sc.b) {
		raw = make([]byte, 0, strict.DecodedLen(len(token)))
	}
	raw, err := strict.AppendDecode(raw, sc.src(token))
	if err != nil {
		return Cursor{}, ErrCursorMalformed.New("The cursor is not base64url.")
	}
	if len(raw) < headerLen || raw[0] != formatVersion {
		return Cursor{}, ErrCursorMalformed.New("The cursor has an unknown format.")
	}
	k := c.keys[raw[1]]
	if k == nil {
		return Cursor{}, ErrCursorUnknownKey.New("The cursor was signed with a key that is no longer in use.")
	}
	var body []byte
	switch raw[2] {
	case modeSigned:
		if len(raw) < headerLen+minBodyLen+tagLen {
			return Cursor{}, ErrCursorMalformed.New("The cursor is truncated.")
		}
		n := len(raw) - tagLen
		if !hmac.Equal(k.mac(sc.sum[:0], raw[:n])[:tagLen], raw[n:]) {
			return Cursor{}, ErrCursorTampered.New("The cursor was modified.")
		}
		body = raw[headerLen:n]
	case modeSealed:
		if len(raw) < headerLen+nonceLen+minBodyLen+k.aead.Overhead() {
			return Cursor{}, ErrCursorMalformed.New("The cursor is truncated.")
		}
		sealed := raw[headerLen+nonceLen:]
		body, err = k.aead.Open(sealed[:0], raw[headerLen:headerLen+nonceLen], sealed, raw[:headerLen])
		if err != nil {
			return Cursor{}, ErrCursorTampered.New("The cursor was modified.")
		}
	default:
		return Cursor{}, ErrCursorMalformed.New("The cursor has an unknown format.")
	}
	return c.parseBody(body, s, filterFP)
}

// parseBody reads a verified body. Its failures mean a cursor this package
// signed but cannot read, which only a bug or a future format can cause.
func (c *Codec) parseBody(body []byte, s *Sort, filterFP [8]byte) (Cursor, error) {
	malformed := func() (Cursor, error) {
		return Cursor{}, ErrCursorMalformed.New("The cursor contents do not decode.")
	}
	if len(body) < minBodyLen || body[0]&^flagBackward != 0 {
		return malformed()
	}
	var cur Cursor
	if body[0]&flagBackward != 0 {
		cur.Direction = Backward
	}
	iat, n := binary.Uvarint(body[1:])
	if n <= 0 || iat > 1<<40 {
		return malformed()
	}
	rest := body[1+n:]
	if len(rest) < 4+8+1 {
		return malformed()
	}
	sortFP, gotFilterFP, count := rest[:4], rest[4:12], int(rest[12])
	rest = rest[13:]
	if count == 0 || count > maxValues {
		return malformed()
	}
	cur.IssuedAt = time.Unix(int64(iat), 0).UTC()
	values := make([]any, count)
	for i := range values {
		var err error
		if values[i], rest, err = readValue(rest); err != nil {
			return malformed()
		}
	}
	if len(rest) != 0 {
		return malformed()
	}
	cur.Values = values
	// IssuedAt is rounded down to the second: a cursor is expired once a
	// second more than the TTL has passed since it, so that none expires
	// early (nor at birth under a sub-second TTL).
	if age := c.opts.Now().Sub(cur.IssuedAt); c.opts.TTL > 0 && age >= c.opts.TTL && age-c.opts.TTL >= time.Second {
		return Cursor{}, ErrCursorExpired.New("The cursor has expired; start again from the first page.")
	}
	if [4]byte(sortFP) != s.fingerprint || count != len(s.keys) {
		return Cursor{}, ErrCursorSortMismatch.New("The cursor belongs to another sort order; start again from the first page.")
	}
	if [8]byte(gotFilterFP) != filterFP {
		return Cursor{}, ErrCursorFilterMismatch.New("The cursor belongs to other filter parameters; start again from the first page.")
	}
	return cur, nil
}

// noFilter is the fingerprint of an empty filter, computed once.
var noFilter = computeFilterFingerprint(nil)

func filterFingerprint(parts []string) [8]byte {
	if len(parts) == 0 {
		return noFilter
	}
	return computeFilterFingerprint(parts)
}

func computeFilterFingerprint(parts []string) [8]byte {
	var stack [256]byte
	b := append(stack[:0], "backstop/pagination filter v1\x00"...)
	b = binary.AppendUvarint(b, uint64(len(parts)))
	for _, p := range parts {
		b = binary.AppendUvarint(b, uint64(len(p)))
		b = append(b, p...)
	}
	sum := sha256.Sum256(b)
	return [8]byte(sum[:8])
}
