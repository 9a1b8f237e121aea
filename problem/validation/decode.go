package validation

import (
	stdjson "encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"reflect"
	"strconv"

	json "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	jsonv1 "github.com/go-json-experiment/json/v1"

	"github.com/backstop-go/backstop/problem"
)

// Decode reads the JSON body of r into dst, which must be a non-nil
// pointer, and validates the result with [Validator.Validate] (when dst
// holds a struct, or a slice, array or map of structs). It returns nil, or
// a *problem.Problem ready for [problem.Write] for every way it can fail:
//
//   - 415 [ErrUnsupportedMediaType]: Content-Type missing or not accepted
//     (see Options.ContentTypes; the response's Accept header lists the
//     accepted types), a charset other than UTF-8, or a Content-Encoding
//     other than identity.
//   - 413 [ErrTooLarge]: the body is larger than Options.MaxBytes (checked
//     against Content-Length first, so nothing is read), or than the limit
//     of an http.MaxBytesReader already around r.Body.
//   - 400 [ErrEmptyBody]: no body, or only white space.
//   - 400 [ErrMalformed]: a syntax error, a body that ends too early, data
//     after the JSON value, or (unless Options.LenientNames) an object
//     that repeats a member name; the "offset" extension says where, and
//     for a repeated name the "pointer" extension names it.
//   - 422 [ErrInvalid]: well-formed JSON that does not fit dst. Each
//     [Violation] points at the member with a JSON Pointer: rule "type" for
//     a value of the wrong JSON type (a string for an int, 300 for an
//     int8, a number or a non-number string for an int with the ",string"
//     option), "unknown" for members dst has no field for (unless
//     Options.AllowUnknownFields), "format" for a value that its type's
//     UnmarshalJSON or UnmarshalText refused (a malformed time.Time) or
//     bad base64 for a []byte, and the validator's tag for each failed rule.
//   - 408 (about:blank) when reading the body timed out, 400 when it
//     failed otherwise (the client went away, bad chunked encoding).
//   - 500 for a programming error: dst is not a non-nil pointer, or its
//     type is one encoding/json would silently misread (two fields with
//     the same JSON name in one struct, a json tag on an unexported
//     field). The cause is kept behind Unwrap for the log; the client sees
//     a generic 500.
//
// Member names bind to fields exactly as declared (case-sensitive), and
// values decode as encoding/json decodes them otherwise (see
// Options.LenientNames). Details never contain the submitted values.
//
// Decode reads the whole body (at most MaxBytes) before decoding, into a
// buffer that grows with the bytes that arrive: Content-Length bounds the
// buffer but never reserves it, so a client that announces a large body
// and sends little of it holds little memory. Decode does not close the
// body.
func (v *Validator) Decode(r *http.Request, dst any) error {
	if p := v.checkHeaders(r.Header); p != nil {
		return p
	}
	maxBytes := v.limit()
	if r.ContentLength > maxBytes {
		return tooLarge(maxBytes)
	}
	if rv := reflect.ValueOf(dst); rv.Kind() != reflect.Pointer || rv.IsNil() {
		return problem.New(http.StatusInternalServerError, "").
			WithCause(fmt.Errorf("validation: Decode needs a non-nil pointer, not %T", dst))
	}
	body, p := read(r, maxBytes)
	if p != nil {
		return p
	}
	if skipSpace(body, 0) == len(body) {
		return ErrEmptyBody.New("The request has no body; send a JSON document.")
	}
	opts := v.decodeOptions()
	if err := json.Unmarshal(body, dst, opts); err != nil {
		return decodeProblem(err, body, reflect.TypeOf(dst), opts)
	}
	return v.check(r.Context(), dst, false)
}

// Decoding options, by Options.AllowUnknownFields and Options.LenientNames.
// Everything but member names, unknown members and error reporting keeps
// encoding/json's semantics, so that types written for encoding/json
// (",string" options, time.Duration as nanoseconds, arrays of any length)
// decode as they always did. Errors stop decoding at the first failure and
// carry the JSON Pointer of the value at fault.
var decodeOptionSets = [2][2]json.Options{
	{newDecodeOptions(false, false), newDecodeOptions(false, true)},
	{newDecodeOptions(true, false), newDecodeOptions(true, true)},
}

func newDecodeOptions(allowUnknown, lenientNames bool) json.Options {
	return json.JoinOptions(
		jsonv1.DefaultOptionsV1(),
		jsonv1.ReportErrorsWithLegacySemantics(false),
		json.RejectUnknownMembers(!allowUnknown),
		json.MatchCaseInsensitiveNames(lenientNames),
		jsontext.AllowDuplicateNames(lenientNames),
		// encoding/json's Number has no method for this decoder before Go
		// 1.27 (its twin in the v1 package has). From Go 1.27 the twin is
		// an alias of encoding/json's Number, whose method a go 1.26
		// module may not name: reach it through an interface.
		json.WithUnmarshalers(json.UnmarshalFromFunc(func(dec *jsontext.Decoder, n *stdjson.Number) error {
			var num jsonv1.Number
			if err := any(&num).(jsontextUnmarshaler).UnmarshalJSONFrom(dec); err != nil {
				return err
			}
			*n = stdjson.Number(num)
			return nil
		})),
	)
}

// jsontextUnmarshaler is json.UnmarshalerFrom, spelt out.
type jsontextUnmarshaler interface {
	UnmarshalJSONFrom(*jsontext.Decoder) error
}

func (v *Validator) decodeOptions() json.Options {
	return decodeOptionSets[b2i(v.allowUnknown)][b2i(v.lenientNames)]
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func tooLarge(limit int64) *problem.Problem {
	return ErrTooLarge.New("The request body is larger than "+strconv.FormatInt(limit, 10)+" bytes.").
		With("maxBytes", limit)
}

func malformed(detail string, offset int64) *problem.Problem {
	return ErrMalformed.New(detail).With("offset", offset)
}

// Sizes of the first buffer read reads into, with and without a
// Content-Length. A Content-Length only caps the buffer: it is a claim of
// the client, and reserving it up front would let a client that sends a
// few bytes pin MaxBytes of memory per connection until the read times out.
const (
	firstReadKnown   = 4 << 10
	firstReadUnknown = 512
)

// read reads the body, at most maxBytes of it. The buffer doubles as it
// fills, up to the announced length plus one byte (to see EOF without
// growing), so the memory held is at most twice what arrived, plus the
// first buffer.
func read(r *http.Request, maxBytes int64) ([]byte, *problem.Problem) {
	if r.Body == nil || r.Body == http.NoBody {
		return nil, nil
	}
	want := maxBytes + 1
	first := int64(firstReadUnknown)
	if r.ContentLength > 0 {
		want = min(r.ContentLength+1, want)
		first = firstReadKnown
	}
	buf := make([]byte, 0, min(first, want))
	body := http.MaxBytesReader(nil, r.Body, maxBytes)
	for {
		if len(buf) == cap(buf) {
			next := 2 * int64(cap(buf))
			if int64(cap(buf)) < want {
				next = min(next, want)
			}
			grown := make([]byte, len(buf), next)
			copy(grown, buf)
			buf = grown
		}
		n, err := body.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return nil, readProblem(err)
		}
	}
}

func readProblem(err error) *problem.Problem {
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return tooLarge(tooBig.Limit).WithCause(err)
	}
	var timeout interface{ Timeout() bool }
	if errors.Is(err, os.ErrDeadlineExceeded) || errors.As(err, &timeout) && timeout.Timeout() {
		return problem.New(http.StatusRequestTimeout, "The request body was not received in time.").WithCause(err)
	}
	return problem.New(http.StatusBadRequest, "The request body could not be read.").WithCause(err)
}

// skipSpace returns the index of the first byte of b at or after i that is
// not JSON white space.
func skipSpace(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}
