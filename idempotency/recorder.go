package idempotency

import (
	"bufio"
	"errors"
	"net"
	"net/http"
	"strings"
)

// recorder passes a response through to the client and keeps a copy of
// its status, allow-listed headers and body (up to MaxResponseBytes) for
// replay.
type recorder struct {
	http.ResponseWriter
	m           *Middleware // its allow-list and MaxResponseBytes apply
	status      int
	wroteHeader bool
	reason      reason         // why the response is not replayable, or 0
	header      recordedHeader // for a MemoryStore
	headerMap   http.Header    // for other stores
	body        []byte
}

// recordedHeader is a recorded response's allow-listed headers: two
// allocations where an http.Header takes three and four times the bytes.
// A MemoryStore keeps it as it is; other stores get an http.Header. It is
// immutable once recorded.
type recordedHeader []headerField

type headerField struct {
	name   string
	values []string
}

// httpHeader returns h as a new http.Header with values of its own (in
// one backing array, each header's capped, so an append copies), or nil
// when h is.
func (h recordedHeader) httpHeader() http.Header {
	if h == nil {
		return nil
	}
	n := 0
	for _, f := range h {
		n += len(f.values)
	}
	all := make([]string, 0, n)
	hh := make(http.Header, len(h))
	for _, f := range h {
		start := len(all)
		all = append(all, f.values...)
		hh[f.name] = all[start:len(all):len(all)]
	}
	return hh
}

// reason is a [Reason] in one byte, which keeps the per-request state of
// the middleware within one allocation size class.
type reason uint8

const (
	replayable reason = iota
	streamed
	hijacked
	tooLarge
)

var reasons = [...]Reason{replayable: "", streamed: ReasonStreamed, hijacked: ReasonHijacked, tooLarge: ReasonTooLarge}

func (rw *recorder) WriteHeader(code int) {
	if rw.wroteHeader || rw.reason == hijacked {
		rw.ResponseWriter.WriteHeader(code) // let net/http report the superfluous call
		return
	}
	if code >= 100 && code < 200 && code != http.StatusSwitchingProtocols {
		rw.ResponseWriter.WriteHeader(code) // informational: sent, never recorded
		return
	}
	rw.wroteHeader = true
	rw.status = code
	rw.snapshot()
	if code == http.StatusSwitchingProtocols {
		rw.reason = hijacked
	}
	rw.ResponseWriter.WriteHeader(code)
}

// snapshot records the allow-listed headers as they are when the header is
// written, and notices event streams.
func (rw *recorder) snapshot() {
	h := rw.ResponseWriter.Header()
	// Responses carry few headers: walk them, not the allow-list, and
	// decide each name once (allowed may canonicalize it).
	var buf [8]string
	keep := buf[:0]
	values := 0
	for k, v := range h {
		if rw.allowed(k) {
			keep = append(keep, k)
			values += len(v)
		}
	}
	if len(keep) > 0 {
		// One backing array for all values.
		all := make([]string, 0, values)
		if rw.m.mem != nil {
			// A MemoryStore keeps the fields as they are: no map.
			rw.header = make(recordedHeader, len(keep))
			for i, k := range keep {
				start := len(all)
				all = append(all, h[k]...)
				rw.header[i] = headerField{name: k, values: all[start:len(all):len(all)]}
			}
		} else {
			rw.headerMap = make(http.Header, len(keep))
			for _, k := range keep {
				start := len(all)
				all = append(all, h[k]...)
				rw.headerMap[k] = all[start:len(all):len(all)]
			}
		}
	}
	if ct := h["Content-Type"]; len(ct) > 0 && rw.reason == replayable {
		mt, _, _ := strings.Cut(ct[0], ";")
		if strings.EqualFold(strings.TrimSpace(mt), "text/event-stream") {
			rw.reason = streamed
		}
	}
}

// allowed reports whether the header named k is recorded. A handler may set
// a name that is not in canonical form (h["ETag"] = ...); net/http sends it
// as it is, so it is recorded and replayed as it is.
func (rw *recorder) allowed(k string) bool {
	if _, ok := rw.m.allow[k]; ok {
		return true
	}
	c := http.CanonicalHeaderKey(k)
	if c == k {
		return false // the usual case: k is canonical and not allowed
	}
	_, ok := rw.m.allow[c]
	return ok
}

func (rw *recorder) Write(p []byte) (int, error) {
	if !rw.wroteHeader {
		rw.WriteHeader(http.StatusOK)
	}
	if rw.reason == replayable {
		if len(rw.body)+len(p) > rw.m.opts.MaxResponseBytes {
			rw.reason = tooLarge
			rw.body = nil
		} else {
			rw.body = append(rw.body, p...)
		}
	}
	return rw.ResponseWriter.Write(p)
}

// Flush marks the response as streamed and flushes it. Like
// http.ResponseController, it does nothing when the underlying writer
// cannot flush.
func (rw *recorder) Flush() { _ = rw.FlushError() }

// FlushError is the form of Flush that http.ResponseController prefers.
// It flushes first: a writer underneath that cannot flush
// (http.TimeoutHandler's, which buffers the whole response), however many
// wrappers with Flush methods stand in between, sends nothing and says
// http.ErrNotSupported, and then there is neither an implicit 200 nor a
// reason not to replay.
func (rw *recorder) FlushError() error {
	err := http.NewResponseController(rw.ResponseWriter).Flush()
	if errors.Is(err, http.ErrNotSupported) {
		return err
	}
	if !rw.wroteHeader && rw.reason != hijacked {
		// The flush sent the header with a 200, as WriteHeader would.
		rw.wroteHeader, rw.status = true, http.StatusOK
		rw.snapshot()
	}
	if rw.reason == replayable {
		rw.reason = streamed
		rw.body = nil
	}
	return err
}

// Hijack hands the connection over; the response is then unknown and
// recorded as not replayable.
func (rw *recorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, brw, err := http.NewResponseController(rw.ResponseWriter).Hijack()
	if err == nil {
		rw.reason = hijacked
		rw.body = nil
	}
	return c, brw, err
}

// Unwrap gives http.ResponseController access to the other methods of the
// underlying writer (deadlines, full duplex).
func (rw *recorder) Unwrap() http.ResponseWriter { return rw.ResponseWriter }

// response returns what was recorded once the handler has returned, and
// whether the handler wrote anything through rw (a status, a byte, a
// flush or a hijack). When it did not, nothing is known of the response:
// net/http sends an implicit 200 only if nobody writes to the underlying
// writer after the middleware returns.
//
// The recorded headers are in resp.Header, or, when the store is a
// MemoryStore, apart in header, which the store keeps as it is.
func (rw *recorder) response() (resp Response, header recordedHeader, seen bool) {
	if !rw.wroteHeader && rw.reason != hijacked {
		return Response{}, nil, false
	}
	if rw.reason != replayable {
		return Response{Status: rw.status, NotReplayable: reasons[rw.reason]}, nil, true
	}
	return Response{Status: rw.status, Header: rw.headerMap, Body: rw.body}, rw.header, true
}
