// Package headercodec is the encoding of a recorded response's header that
// the Redis and PostgreSQL stores keep: a version byte, then for each name
// (sorted) the name and its values, every string and count as a uvarint
// length or value. It is stable, binary-safe (header values may hold bytes
// that are not UTF-8, which a text or jsonb column would refuse or alter)
// and cheap to decode.
//
// A name may have no values: a handler sets a header to nil to suppress
// one net/http would add (Date, a sniffed Content-Type), and a replay must
// suppress it too.
package headercodec

import (
	"encoding/binary"
	"errors"
	"net/http"
	"slices"
)

const version = 1

// ErrCorrupt is returned for bytes Encode did not produce.
var ErrCorrupt = errors.New("corrupt stored header")

// Encode encodes h; an empty h is nil.
func Encode(h http.Header) []byte {
	if len(h) == 0 {
		return nil
	}
	names := make([]string, 0, len(h))
	size := 1
	for k, vs := range h {
		names = append(names, k)
		size += len(k) + 2*binary.MaxVarintLen16
		for _, v := range vs {
			size += len(v) + binary.MaxVarintLen16
		}
	}
	slices.Sort(names)
	b := make([]byte, 0, size)
	b = append(b, version)
	for _, k := range names {
		vs := h[k]
		b = binary.AppendUvarint(b, uint64(len(k)))
		b = append(b, k...)
		b = binary.AppendUvarint(b, uint64(len(vs)))
		for _, v := range vs {
			b = binary.AppendUvarint(b, uint64(len(v)))
			b = append(b, v...)
		}
	}
	return b
}

// Decode decodes what Encode produced, as the Redis client returns it (a
// string) or as PostgreSQL does (bytes). Empty input is a nil header; a
// name without values comes back with an empty, non-nil slice.
func Decode[T string | []byte](b T) (http.Header, error) {
	if len(b) == 0 {
		return nil, nil
	}
	if b[0] != version {
		return nil, ErrCorrupt
	}
	b = b[1:]
	next := func() (uint64, bool) {
		// A uvarint is at most MaxVarintLen64 bytes: only those are copied
		// when b is a string.
		n, w := binary.Uvarint([]byte(b[:min(len(b), binary.MaxVarintLen64)]))
		if w <= 0 {
			return 0, false
		}
		b = b[w:]
		return n, true
	}
	str := func() (string, bool) {
		n, ok := next()
		if !ok || n > uint64(len(b)) {
			return "", false
		}
		v := string(b[:n])
		b = b[n:]
		return v, true
	}
	h := make(http.Header)
	for len(b) > 0 {
		k, ok := str()
		if !ok {
			return nil, ErrCorrupt
		}
		n, ok := next()
		if !ok || n > uint64(len(b)) { // every value takes at least a byte
			return nil, ErrCorrupt
		}
		vs := make([]string, 0, n)
		for range n {
			v, ok := str()
			if !ok {
				return nil, ErrCorrupt
			}
			vs = append(vs, v)
		}
		h[k] = vs
	}
	return h, nil
}
