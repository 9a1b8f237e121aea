// Package headerval hands out header values that belong to one response,
// carved from shared chunks as net/textproto does for the values of a
// parsed header.
//
// Assigning one []string made at start-up to every response's header saves
// an allocation, but hands every handler and middleware the same slice: one
// that rewrites its value in place (an http.Header is a map of slices its
// holder owns) changes the field for every later response, and races with
// concurrent ones. Allocating each value costs an allocation per header on
// paths that are otherwise free of them. A Chunk gives each value a slice
// (and bytes) of its own, amortising one allocation over many values.
package headerval

import (
	"sync"
	"unsafe"
)

// Chunk is where values are carved from. It belongs to one goroutine
// between Get and Put. Every slice and byte range it hands out is handed
// out once, its bytes are never written after the value's string is made,
// and each slice's capacity is 1, so an append to it copies it instead of
// reaching a neighbour. A carved value keeps its chunk's arrays alive, a
// few KiB, until every value carved from them is unreachable.
//
// The chunk advances by index rather than by reslicing: a value costs no
// pointer write to the chunk, each of which is a write barrier while the
// collector marks.
type Chunk struct {
	strs []string // value slices; strs[ns:] unused
	buf  []byte   // bytes; buf[nb:] unused
	ns   int
	nb   int
}

const (
	chunkValues = 64   // values per []string allocation
	chunkBytes  = 2048 // bytes per []byte allocation
	maxCarved   = 128  // longer values get their own allocation
)

var chunks = sync.Pool{New: func() any { return new(Chunk) }}

// Get returns a chunk for the calling goroutine; Put gives it back.
func Get() *Chunk { return chunks.Get().(*Chunk) }

// Put returns c for reuse. The values already carved from c stay valid and
// are never handed out again.
func Put(c *Chunk) { chunks.Put(c) }

// Value returns []string{v}, a slice of its own.
func (c *Chunk) Value(v string) []string {
	if c.ns >= len(c.strs) {
		c.strs, c.ns = make([]string, chunkValues), 0
	}
	i := c.ns
	s := c.strs[i : i+1 : i+1]
	c.ns = i + 1
	s[0] = v
	return s
}

// Bytes returns []string{string(b)}: the slice and the string's bytes of
// its own, carved from c unless b is long.
func (c *Chunk) Bytes(b []byte) []string {
	if len(b) == 0 || len(b) > maxCarved {
		return []string{string(b)}
	}
	if len(c.buf)-c.nb < len(b) {
		c.buf, c.nb = make([]byte, chunkBytes), 0
	}
	i := c.nb
	n := copy(c.buf[i:], b)
	c.nb = i + n
	return c.Value(unsafe.String(&c.buf[i], n))
}
