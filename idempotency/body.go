package idempotency

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"slices"
	"strconv"
	"sync"
)

// readBody reads the request body up to MaxBodyBytes. The caller restores
// it for the handler with restoreBody, or recycles it. bp is the pool's
// holder of the buffer, or nil when it was freshly allocated.
func (m *Middleware) readBody(r *http.Request) (buf []byte, bp *[]byte, err error) {
	if r.Body == nil || r.Body == http.NoBody {
		return nil, nil, nil
	}
	limit := m.opts.MaxBodyBytes
	if r.ContentLength > limit {
		return nil, nil, ErrBodyTooLarge.New("The request body is larger than " + strconv.FormatInt(limit, 10) + " bytes.")
	}
	size := 512
	if r.ContentLength >= 0 {
		// +1 to see EOF without growing. The declared length is only a
		// hint: allocate at most maxPooledBody before the bytes arrive, so
		// that a client cannot make the server reserve MaxBodyBytes per
		// request with a header alone.
		size = int(min(r.ContentLength+1, maxPooledBody))
	}
	if size <= maxPooledBody {
		if bp, _ = bodyPool.Get().(*[]byte); bp != nil && cap(*bp) >= size {
			buf = (*bp)[:0]
		} else {
			bp = nil
		}
	}
	if buf == nil {
		buf = make([]byte, 0, size)
	}
	for {
		if len(buf) == cap(buf) {
			// Double what has arrived, up to the declared length.
			grow := cap(buf)
			if r.ContentLength >= 0 {
				grow = min(grow, int(r.ContentLength)+1-len(buf))
			}
			buf = slices.Grow(buf, max(grow, 1))
		}
		n, err := r.Body.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if int64(len(buf)) > limit {
			return nil, nil, ErrBodyTooLarge.New("The request body is larger than " + strconv.FormatInt(limit, 10) + " bytes.")
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				return nil, nil, ErrBodyTooLarge.New("The request body is too large.")
			}
			return nil, nil, ErrBodyUnreadable.New("The request body could not be read.").WithCause(err)
		}
	}
	_ = r.Body.Close()
	return buf, bp, nil
}

// restoreBody gives the handler a body identical to the one read.
func restoreBody(r *http.Request, buf []byte) {
	if buf == nil {
		return
	}
	body := &bodyReader{}
	body.Reset(buf)
	r.Body = body
}

// Request bodies of requests whose handler does not run (replays and
// rejections, the common case under retries) go back to bodyPool.
const maxPooledBody = 64 << 10

var bodyPool sync.Pool

// recycleBody returns the buffer of a body that no handler will see.
func recycleBody(buf []byte, bp *[]byte) {
	if buf == nil || cap(buf) > maxPooledBody {
		return
	}
	if bp == nil {
		bp = new([]byte)
	}
	*bp = buf[:0]
	bodyPool.Put(bp)
}

// bodyReader is the restored request body. Its reads and Reset exclude each
// other: a handler may pass the body on to something that reads it from
// another goroutine, and keeps reading after the handler returned (an
// http.Transport may still be sending a proxied request's body after
// RoundTrip returns). Once run has reset it, such a read finds nothing
// instead of racing with the buffer's next user.
type bodyReader struct {
	mu sync.Mutex
	r  bytes.Reader
}

func (b *bodyReader) Read(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.r.Read(p)
}

// Reset makes b read buf.
func (b *bodyReader) Reset(buf []byte) {
	b.mu.Lock()
	b.r.Reset(buf)
	b.mu.Unlock()
}

func (*bodyReader) Close() error { return nil }
