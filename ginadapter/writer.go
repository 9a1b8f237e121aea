package ginadapter

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"

	"github.com/gin-gonic/gin"

	"github.com/backstop-go/backstop/problem"
)

// scopeWriter is c.Writer inside a [Wrap] or [Problems] scope: a
// gin.ResponseWriter with gin's semantics that writes to w.
type scopeWriter struct {
	w     http.ResponseWriter // what the middleware passed on
	outer gin.ResponseWriter  // c.Writer when the scope began
	// problems is set under Problems: errors and bodiless error statuses
	// become problems written with errs (nil: problem.Write).
	problems bool
	errs     *problem.Writer
	errStart int // c.Errors before this is not the chain's under Problems
	status   int
	size     int  // -1 until the header is written, as in gin
	set      bool // the chain set a status
	held     bool // a bodiless error status waits for finish, which may make it a problem
}

var _ gin.ResponseWriter = (*scopeWriter)(nil)

// init begins a scope writing to w inside outer, under Problems when
// problems is set or when outer is the writer of a scope that is. errStart
// is the number of errors in c.Errors when the scope began; a scope inside
// another takes the other's, so that it renders the errors pushed between
// them too (by middleware that went on): the enclosing Problems would
// render them over the response the scope's middleware saw end.
func (sw *scopeWriter) init(w http.ResponseWriter, outer gin.ResponseWriter, problems bool, errs *problem.Writer, errStart int) {
	if o, ok := outer.(*scopeWriter); ok && !problems {
		problems, errs, errStart = o.problems, o.errs, o.errStart
	}
	sw.w, sw.outer = w, outer
	sw.problems, sw.errs, sw.errStart = problems, errs, errStart
	sw.status, sw.size, sw.set, sw.held = outer.Status(), -1, false, false
	if outer.Written() {
		sw.size = 0
	}
}

func (sw *scopeWriter) Header() http.Header { return sw.w.Header() }

// WriteHeader sets the status, as gin's writer does: it is written later.
func (sw *scopeWriter) WriteHeader(code int) {
	if code <= 0 || sw.size >= 0 {
		return // gin ignores a status once the header is written
	}
	sw.status, sw.set = code, true
}

func (sw *scopeWriter) WriteHeaderNow() {
	if sw.size >= 0 {
		return
	}
	sw.size = 0
	if sw.problems && sw.status >= 400 {
		sw.held = true // c.AbortWithStatus: the body may still become a problem
		return
	}
	sw.w.WriteHeader(sw.status)
}

// send writes a held header.
func (sw *scopeWriter) send() {
	if sw.held {
		sw.held = false
		sw.w.WriteHeader(sw.status)
	}
}

func (sw *scopeWriter) Write(b []byte) (int, error) {
	sw.WriteHeaderNow()
	sw.send()
	n, err := sw.w.Write(b)
	sw.size += n
	return n, err
}

func (sw *scopeWriter) WriteString(s string) (int, error) {
	sw.WriteHeaderNow()
	sw.send()
	n, err := io.WriteString(sw.w, s)
	sw.size += n
	return n, err
}

func (sw *scopeWriter) Status() int   { return sw.status }
func (sw *scopeWriter) Size() int     { return sw.size }
func (sw *scopeWriter) Written() bool { return sw.size >= 0 }

func (sw *scopeWriter) Flush() {
	sw.WriteHeaderNow()
	sw.send()
	_ = http.NewResponseController(sw.w).Flush()
}

var errHijackAfterBody = errors.New("ginadapter: response body already written")

// Hijack hands the connection over, as gin's writer does: not after the
// body started.
func (sw *scopeWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if sw.size > 0 {
		return nil, nil, errHijackAfterBody
	}
	if sw.size < 0 {
		sw.size = 0
	}
	sw.held = false
	return http.NewResponseController(sw.w).Hijack()
}

// CloseNotify implements http.CloseNotifier through gin's own writer.
func (sw *scopeWriter) CloseNotify() <-chan bool { return sw.outer.CloseNotify() }

// Pusher returns gin's pusher: a push promise is not part of the response.
func (sw *scopeWriter) Pusher() http.Pusher { return sw.outer.Pusher() }

// Unwrap gives http.ResponseController the writer the middleware passed on.
func (sw *scopeWriter) Unwrap() http.ResponseWriter { return sw.w }

// finish ends the scope's response when the chain has returned: it writes
// a status the chain set without a body, and under Problems it writes the
// problem for the chain's last error or its bodiless error status.
func (sw *scopeWriter) finish(c *gin.Context) {
	if sw.size > 0 || (sw.size == 0 && !sw.held) {
		return // the response is under way
	}
	var err error
	if sw.problems {
		if len(c.Errors) > sw.errStart {
			err = errorFor(c.Errors[len(c.Errors)-1], sw.status)
		} else if sw.status >= 400 {
			err = problem.New(sw.status, "")
		}
	}
	if err == nil {
		if sw.held {
			sw.send()
		} else if sw.set {
			sw.WriteHeaderNow()
		}
		return
	}
	sw.held, sw.size = false, 0
	if sw.errs != nil {
		sw.errs.Write(sw.w, c.Request, err)
	} else {
		problem.Write(sw.w, c.Request, err)
	}
	if sw.w == http.ResponseWriter(sw.outer) {
		// Written through gin's writer, which keeps a status pending
		// until a body is written; a HEAD response has none, and gin
		// would write its own text 404 over the problem's headers.
		commit(sw.outer)
	}
}

// commit writes the pending header of w now, and that of the writers it
// writes straight through: a problem without a body (a HEAD response) is
// the response, not a bare error status that an enclosing scope would
// hold and render again.
func commit(w gin.ResponseWriter) {
	for {
		sw, ok := w.(*scopeWriter)
		if !ok {
			w.WriteHeaderNow()
			return
		}
		if sw.size >= 0 && !sw.held {
			return
		}
		sw.size, sw.held = 0, false
		sw.w.WriteHeader(sw.status)
		if sw.w != http.ResponseWriter(sw.outer) {
			return
		}
		w = sw.outer
	}
}

// errorFor returns the error to write for a gin error under status.
func errorFor(ge *gin.Error, status int) error {
	if _, ok := problem.From(ge.Err); ok {
		return ge.Err
	}
	if status < 400 || status > 599 {
		return ge.Err // Options.Map, or a generic 500
	}
	p := problem.New(status, "").WithCause(ge.Err)
	if ge.IsType(gin.ErrorTypePublic) {
		p.Detail = ge.Err.Error()
	}
	return p
}

// Problems returns gin middleware that writes the errors of the chain
// after it as RFC 9457 problems with w (nil means the default writer of
// problem.Write). Use it first, on the engine, so that it also covers
// gin's own 404 and 405 (set Engine.HandleMethodNotAllowed for 405s, with
// their Allow header; gin answers 404 otherwise), and put gin.Recovery
// after it:
//
//	r := gin.New()
//	r.HandleMethodNotAllowed = true
//	r.Use(ginadapter.Problems(nil), gin.Recovery())
//
// When the chain ends with nothing written but an error in c.Errors, the
// last error is written: a *problem.Problem as it is; another error under
// an error status (c.AbortWithError(code, err)) as a problem of type
// about:blank with that status, whose detail is the error's text only when
// it is of type gin.ErrorTypePublic; another error without an error status
// as w writes it (Options.Map, or a generic 500 whose cause is logged).
// A status of 400 or more without a body (c.AbortWithStatus, gin.Recovery's
// 500, gin's 404 and 405) becomes a problem of type about:blank with that
// status. A response the chain wrote is left alone.
//
// Inside [Wrap] (and so [Idempotency]) the problem is written by the
// wrapping middleware's scope, before the middleware sees the chain end, so
// that idempotency records the problem the client receives.
func Problems(w *problem.Writer) gin.HandlerFunc {
	pool := &sync.Pool{New: func() any { return &scope{problems: true, errs: w} }}
	return func(c *gin.Context) {
		s := pool.Get().(*scope)
		s.c = c
		s.ServeHTTP(c.Writer, c.Request)
		s.release()
		pool.Put(s) // not after a panic, which leaves s to the collector
	}
}
