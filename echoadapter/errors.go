package echoadapter

import (
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/backstop-go/backstop/problem"
)

// ErrorHandler returns an echo.HTTPErrorHandler that writes every error as
// an RFC 9457 problem with w (nil means the default writer of
// problem.Write):
//
//	e.HTTPErrorHandler = echoadapter.ErrorHandler(nil)
//
// An error holding a *problem.Problem is written as that problem. An
// *echo.HTTPError (echo's own 404, 405, 413..., the errors of its
// middleware, and those handlers return with echo.NewHTTPError) becomes a
// problem of type about:blank with its Code as status; a Message that is a
// string other than the status text becomes the detail, other Message
// values are not sent. Its Internal error is the problem's cause (logged
// for 5xx, never sent). Headers echo set before the error reached the
// handler stay, so a 405 keeps the Allow header of echo's router. Any other
// error goes to w as it is: Options.Map may turn it into a problem,
// otherwise it is a logged, generic 500.
//
// When the response is already committed the handler writes nothing, as
// echo's default handler does: the error came after the response started,
// or was rendered already inside a middleware of this package (see
// [Wrap]).
func ErrorHandler(w *problem.Writer) echo.HTTPErrorHandler {
	write := problem.Write
	if w != nil {
		write = w.Write
	}
	return func(err error, c echo.Context) {
		if c.Response().Committed {
			return
		}
		write(c.Response(), c.Request(), asProblem(err))
	}
}

// asProblem returns the error to write for err: the first *problem.Problem
// or echo error in its chain, as a problem.
func asProblem(err error) error {
	for e := err; e != nil; e = errors.Unwrap(e) {
		switch e := e.(type) {
		case *problem.Problem:
			return err
		case *echo.HTTPError:
			return fromHTTPError(e)
		case *echo.BindingError:
			return fromHTTPError(e.HTTPError)
		}
	}
	return err
}

func fromHTTPError(he *echo.HTTPError) error {
	if he == nil {
		return nil
	}
	cause := error(he)
	if inner, ok := he.Internal.(*echo.HTTPError); ok {
		he = inner // as echo's default handler does
	}
	detail := ""
	if m, ok := he.Message.(string); ok && m != http.StatusText(he.Code) {
		detail = m
	}
	return problem.New(he.Code, detail).WithCause(cause)
}
