package pgstore

import (
	"encoding/binary"
	"errors"
	"net/http"
	"slices"
)

// The header column's encoding: a version byte, then for each name
// (sorted) the name and its values, every string and count as a uvarint
// length or value. It is binary-safe (header values may hold bytes that
// are not UTF-8, which a text or jsonb column would refuse or alter) and
// cheap to decode.
const headerVersion = 1

var errCorruptHeader = errors.New("pgstore: corrupt stored header")

func encodeHeader(h http.Header) []byte {
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
	b = append(b, headerVersion)
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

func decodeHeader(b []byte) (http.Header, error) {
	if len(b) == 0 {
		return nil, nil
	}
	if b[0] != headerVersion {
		return nil, errCorruptHeader
	}
	b = b[1:]
	next := func() (uint64, bool) {
		n, w := binary.Uvarint(b)
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
			return nil, errCorruptHeader
		}
		n, ok := next()
		if !ok || n == 0 || n > uint64(len(b)) {
			return nil, errCorruptHeader
		}
		vs := make([]string, 0, n)
		for range n {
			v, ok := str()
			if !ok {
				return nil, errCorruptHeader
			}
			vs = append(vs, v)
		}
		h[k] = vs
	}
	return h, nil
}
