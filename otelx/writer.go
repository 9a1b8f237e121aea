package otelx

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
)

// exchange is what the middleware observes of one request: the response
// status and size, and how much of the request body the handler read. It
// is one allocation for both wrappers.
type exchange struct {
	w    responseWriter
	body requestBody
}

// responseWriter records the status and the number of body bytes written.
// Flush, Hijack and ReadFrom pass through to the underlying writer (through
// http.ResponseController, so they work on writers that themselves wrap),
// and Unwrap gives http.ResponseController the rest.
type responseWriter struct {
	http.ResponseWriter
	status      int
	written     int64
	wroteHeader bool
}

func (w *responseWriter) WriteHeader(code int) {
	if !w.wroteHeader {
		// Informational answers precede the real one; 101 is final.
		if code < 100 || code > 199 || code == http.StatusSwitchingProtocols {
			w.wroteHeader = true
			w.status = code
		}
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *responseWriter) Write(p []byte) (int, error) {
	if !w.wroteHeader {
		w.wroteHeader = true
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(p)
	w.written += int64(n)
	return n, err
}

// ReadFrom keeps io.Copy on the underlying writer's fast path (sendfile)
// while counting the bytes.
func (w *responseWriter) ReadFrom(src io.Reader) (int64, error) {
	if !w.wroteHeader {
		w.wroteHeader = true
		w.status = http.StatusOK
	}
	var n int64
	var err error
	if rf, ok := w.ResponseWriter.(io.ReaderFrom); ok {
		n, err = rf.ReadFrom(src)
	} else {
		n, err = io.Copy(writerOnly{w.ResponseWriter}, src)
	}
	w.written += n
	return n, err
}

// writerOnly hides every method but Write, so that io.Copy does not call
// back into ReadFrom.
type writerOnly struct{ io.Writer }

// Flush flushes the underlying writer; like http.ResponseController, it
// does nothing when that writer cannot flush.
func (w *responseWriter) Flush() { _ = w.FlushError() }

// FlushError is the form of Flush that http.ResponseController prefers.
// A flush sends a 200 unless a status was written, but one the writer
// cannot do sends nothing, and the handler may still answer otherwise.
func (w *responseWriter) FlushError() error {
	err := http.NewResponseController(w.ResponseWriter).Flush()
	if !w.wroteHeader && !errors.Is(err, http.ErrNotSupported) {
		w.wroteHeader = true
		w.status = http.StatusOK
	}
	return err
}

// Hijack hands the connection to the handler.
func (w *responseWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return http.NewResponseController(w.ResponseWriter).Hijack()
}

// Unwrap returns the underlying writer for http.ResponseController.
func (w *responseWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// requestBody counts the bytes the handler reads from the request body.
type requestBody struct {
	io.ReadCloser
	read int64
}

func (b *requestBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.read += int64(n)
	return n, err
}
