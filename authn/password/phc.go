package password

import (
	"encoding/base64"
	"errors"
	"strings"
)

// PHC ranges (P-H-C/phc-string-format) and what this package accepts.
const (
	minSalt = 8
	maxSalt = 48
	minKey  = 12
	maxKey  = 64
	// maxEncoded bounds the whole string before it is looked at: the longest
	// valid hash (10-digit m and t, 3-digit p, 8-byte keyid, 48-byte salt,
	// 64-byte key) is under 200 characters.
	maxEncoded = 256
	variant    = "argon2id"
	version    = 19
)

var b64 = base64.RawStdEncoding.Strict()

// params are the parts of a decoded PHC string. Salt and key are decoded
// into buf, so parsing allocates nothing.
type params struct {
	memory  uint32
	time    uint32
	threads uint8
	keyID   string // the encoded keyid, as in the string; "" when absent
	saltLen int
	keyLen  int
	buf     [maxSalt + maxKey]byte
}

func (p *params) salt() []byte { return p.buf[:p.saltLen] }
func (p *params) key() []byte  { return p.buf[maxSalt : maxSalt+p.keyLen] }

// bounds are the largest parameters a stored hash may ask for.
type bounds struct {
	memory  uint32
	time    uint32
	threads uint8
}

// Returned as they are, so that a refused hash costs no allocation.
var (
	errTooLong      error = malformed{errors.New("password: malformed hash: longer than 256 bytes")}
	errNotPHC       error = malformed{errors.New("password: malformed hash: not a PHC string")}
	errVariant      error = malformed{ErrUnsupportedVariant}
	errVersion      error = malformed{ErrUnsupportedVersion}
	errParamSyntax  error = malformed{errors.New("password: malformed hash: bad parameter list")}
	errData         error = malformed{errors.New("password: malformed hash: the data parameter is not supported")}
	errKeyID        error = malformed{errors.New("password: malformed hash: bad keyid")}
	errSalt         error = malformed{errors.New("password: malformed hash: salt is not unpadded base64 of 8 to 48 bytes")}
	errKey          error = malformed{errors.New("password: malformed hash: key is not unpadded base64 of 12 to 64 bytes")}
	errTimeBounds   error = malformed{wrapBounds("t is 0 or above MaxTime")}
	errThreadBounds error = malformed{wrapBounds("p is 0 or above MaxThreads")}
	errMemoryBounds error = malformed{wrapBounds("m is below 8*p or above MaxMemory")}
)

type boundsError string

func wrapBounds(s string) error { return boundsError(s) }

func (e boundsError) Error() string { return ErrParamsOutOfBounds.Error() + ": " + string(e) }

func (e boundsError) Unwrap() error { return ErrParamsOutOfBounds }

// parse decodes an Argon2id PHC string, checking every field and bound
// before anything is allocated or computed:
//
//	$argon2id$v=19$m=<KiB>,t=<passes>,p=<lanes>[,keyid=<b64>]$<b64 salt>$<b64 key>
//
// m, t and p may come in any order (each once), as some producers write
// them differently; numbers are decimal without sign or leading zeros.
func parse(s string, max bounds, p *params) error {
	if len(s) > maxEncoded {
		return errTooLong
	}
	rest, ok := strings.CutPrefix(s, "$")
	if !ok {
		return errNotPHC
	}
	id, rest, ok := strings.Cut(rest, "$")
	if !ok {
		return errNotPHC
	}
	if id != variant {
		return errVariant
	}
	field, rest, ok := strings.Cut(rest, "$")
	if !ok {
		return errNotPHC
	}
	v, isVersion := strings.CutPrefix(field, "v=")
	if !isVersion {
		return errVersion // no v= means version 16, which x/crypto does not compute
	}
	if n, ok := parseUint(v); !ok || n != version {
		return errVersion
	}
	list, rest, ok := strings.Cut(rest, "$")
	if !ok {
		return errNotPHC
	}
	salt, key, ok := strings.Cut(rest, "$")
	if !ok || strings.IndexByte(key, '$') >= 0 {
		return errNotPHC
	}

	var seen [3]bool
	var m, t, lanes uint32
	for more := true; more; {
		var item string
		item, list, more = strings.Cut(list, ",")
		name, value, ok := strings.Cut(item, "=")
		if !ok || value == "" {
			return errParamSyntax
		}
		var slot int
		switch name {
		case "m":
			slot = 0
		case "t":
			slot = 1
		case "p":
			slot = 2
		case "keyid":
			if p.keyID != "" || len(value) > 11 || !validB64(value, 1, 8) {
				return errKeyID
			}
			p.keyID = value
			continue
		case "data":
			return errData
		default:
			return errParamSyntax
		}
		n, ok := parseUint(value)
		if !ok || seen[slot] {
			return errParamSyntax
		}
		seen[slot] = true
		switch slot {
		case 0:
			m = n
		case 1:
			t = n
		case 2:
			lanes = n
		}
	}
	if !seen[0] || !seen[1] || !seen[2] {
		return errParamSyntax
	}
	if t == 0 || t > max.time {
		return errTimeBounds
	}
	if lanes == 0 || lanes > uint32(max.threads) {
		return errThreadBounds
	}
	if uint64(m) < 8*uint64(lanes) || m > max.memory {
		return errMemoryBounds
	}
	p.memory, p.time, p.threads = m, t, uint8(lanes)

	n, err := decodeInto(p.buf[:maxSalt], salt, minSalt, maxSalt)
	if err != nil {
		return errSalt
	}
	p.saltLen = n
	n, err = decodeInto(p.buf[maxSalt:], key, minKey, maxKey)
	if err != nil {
		return errKey
	}
	p.keyLen = n
	return nil
}

var errLength = errors.New("length")

// decodeInto decodes unpadded standard base64 into dst after checking that
// the decoded length is within [lo, hi].
func decodeInto(dst []byte, src string, lo, hi int) (int, error) {
	if len(src)%4 == 1 {
		return 0, errLength
	}
	n := b64.DecodedLen(len(src))
	if n < lo || n > hi {
		return 0, errLength
	}
	if strings.ContainsAny(src, "\r\n") {
		return 0, errLength // the decoder would skip them
	}
	var tmp [88]byte // hi <= 64 bytes: at most 86 characters
	got, err := b64.Decode(dst, tmp[:copy(tmp[:], src)])
	if err != nil || got != n {
		return 0, errLength
	}
	return got, nil
}

// validB64 reports whether s is unpadded base64 of lo to hi bytes.
func validB64(s string, lo, hi int) bool {
	var buf [64]byte
	if len(s) > 86 {
		return false
	}
	_, err := decodeInto(buf[:], s, lo, hi)
	return err == nil
}

// parseUint parses a decimal uint32 without sign or leading zeros.
func parseUint(s string) (uint32, bool) {
	if s == "" || len(s) > 10 || (len(s) > 1 && s[0] == '0') {
		return 0, false
	}
	var n uint64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
	}
	if n > 1<<32-1 {
		return 0, false
	}
	return uint32(n), true
}

// appendPHC appends the PHC string of an Argon2id hash.
func appendPHC(b []byte, memory, time uint32, threads uint8, keyID string, salt, key []byte) []byte {
	b = append(b, "$argon2id$v=19$m="...)
	b = appendUint(b, uint64(memory))
	b = append(b, ",t="...)
	b = appendUint(b, uint64(time))
	b = append(b, ",p="...)
	b = appendUint(b, uint64(threads))
	if keyID != "" {
		b = append(b, ",keyid="...)
		b = append(b, keyID...)
	}
	b = append(b, '$')
	b = b64.AppendEncode(b, salt)
	b = append(b, '$')
	return b64.AppendEncode(b, key)
}

func appendUint(b []byte, n uint64) []byte {
	var d [20]byte
	i := len(d)
	for {
		i--
		d[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			break
		}
	}
	return append(b, d[i:]...)
}
