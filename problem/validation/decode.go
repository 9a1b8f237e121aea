package validation

import (
	"bytes"
	"encoding"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"math"
	"mime"
	"net/http"
	"os"
	"reflect"
	"strconv"
	"strings"
	"time"

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
//   - 400 [ErrMalformed]: a syntax error, a body that ends too early, or
//     data after the JSON value; the "offset" extension says where.
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
//   - 500 for a programming error: dst is not a non-nil pointer. The cause
//     is kept behind Unwrap for the log; the client sees a generic 500.
//
// Details never contain the submitted values. Decode reads the whole body
// (at most MaxBytes) before decoding, and does not close it.
func (v *Validator) Decode(r *http.Request, dst any) error {
	if p := v.checkHeaders(r.Header); p != nil {
		return p
	}
	if r.ContentLength > v.maxBytes {
		return tooLarge(v.maxBytes)
	}
	body, err := v.read(r)
	if err != nil {
		return err
	}
	if skipSpace(body, 0) == len(body) {
		return ErrEmptyBody.New("The request has no body; send a JSON document.")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if !v.allowUnknown {
		dec.DisallowUnknownFields()
	}
	if err := dec.Decode(dst); err != nil {
		return decodeProblem(err, body, dst)
	}
	if end := skipSpace(body, int(dec.InputOffset())); end < len(body) {
		return malformed("The request body holds more than one JSON value.", int64(end))
	}
	return v.check(r.Context(), dst, false)
}

// checkHeaders answers 415 for a Content-Type or Content-Encoding that the
// validator does not take.
func (v *Validator) checkHeaders(h http.Header) *problem.Problem {
	if ce := h.Get("Content-Encoding"); ce != "" && !strings.EqualFold(ce, "identity") {
		return ErrUnsupportedMediaType.New("The request body must not be compressed.").
			WithHeader("Accept-Encoding", "identity")
	}
	var mt string
	if ct := h.Get("Content-Type"); strings.EqualFold(ct, "application/json") {
		mt = "application/json" // the common case, without parsing
	} else if ct != "" {
		var params map[string]string
		var err error
		mt, params, err = mime.ParseMediaType(ct)
		if err != nil {
			return v.unsupported("The request's Content-Type cannot be parsed.")
		}
		if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") && !strings.EqualFold(cs, "utf8") {
			return v.unsupported("JSON must be encoded in UTF-8.")
		}
	}
	if v.accepts(mt) {
		return nil
	}
	if mt == "" {
		return v.unsupported("The request has no Content-Type.")
	}
	return v.unsupported("The request's Content-Type is not supported.")
}

func (v *Validator) accepts(mt string) bool {
	if v.contentTypes == nil {
		return mt == "application/json" ||
			strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json")
	}
	for _, ct := range v.contentTypes {
		if ct == mt || ct == "*/*" && mt != "" {
			return true
		}
	}
	return false
}

func (v *Validator) unsupported(detail string) *problem.Problem {
	p := ErrUnsupportedMediaType.New(detail)
	if v.acceptHeader != "" {
		p.WithHeader("Accept", v.acceptHeader)
		p.Detail += " Send " + v.acceptHeader + "."
	}
	return p
}

func tooLarge(limit int64) *problem.Problem {
	return ErrTooLarge.New("The request body is larger than "+strconv.FormatInt(limit, 10)+" bytes.").
		With("maxBytes", limit)
}

func malformed(detail string, offset int64) *problem.Problem {
	return ErrMalformed.New(detail).With("offset", offset)
}

// read reads the body, at most maxBytes of it.
func (v *Validator) read(r *http.Request) ([]byte, error) {
	if r.Body == nil || r.Body == http.NoBody {
		return nil, nil
	}
	size := int64(512)
	if r.ContentLength > 0 {
		size = r.ContentLength + 1 // room to see EOF without growing
	}
	buf := make([]byte, 0, min(size, v.maxBytes+1))
	body := http.MaxBytesReader(nil, r.Body, v.maxBytes)
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
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

// decodeProblem maps an error of encoding/json. A body that is not one
// well-formed JSON value is malformed (400), even when decoding stopped
// earlier on a value of the wrong type. Then, since a method of dst's types
// (UnmarshalJSON, UnmarshalText) may have returned any error, including
// json errors whose offsets refer to its own input, those methods are
// checked first by decoding the body again, one custom value at a time.
func decodeProblem(err error, body []byte, dst any) error {
	var inv *json.InvalidUnmarshalError
	if errors.As(err, &inv) {
		return problem.New(http.StatusInternalServerError, "").WithCause(err)
	}
	if !json.Valid(body) {
		dec := json.NewDecoder(bytes.NewReader(body))
		var raw json.RawMessage
		var syn *json.SyntaxError
		switch err := dec.Decode(&raw); {
		case errors.As(err, &syn):
			// encoding/json counts the offending byte as read.
			return malformed("The request body is not valid JSON.", max(syn.Offset-1, 0)).WithCause(err)
		case err != nil:
			return malformed("The request body ends in the middle of a JSON value.", int64(len(body))).WithCause(err)
		}
		return malformed("The request body holds more than one JSON value.", int64(skipSpace(body, int(dec.InputOffset()))))
	}
	root := reflect.TypeOf(dst)
	if vs, _ := walkBody(body, root, false); len(vs) > 0 {
		return invalid422(vs).WithCause(err)
	}
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &typ):
		return invalid422([]Violation{typeViolation(typ, body)}).WithCause(err)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		vs, total := walkBody(body, root, true)
		if len(vs) > 0 {
			sortViolations(vs)
			return invalidProblem(vs, total).WithCause(err)
		}
		name, _ := strconv.Unquote(strings.TrimPrefix(err.Error(), "json: unknown field "))
		return invalid422([]Violation{{Pointer: Pointer(name), Detail: "is not a known member", Rule: "unknown"}}).WithCause(err)
	}
	return invalid422([]Violation{{Pointer: "#", Detail: "has a value that cannot be decoded", Rule: "format"}}).WithCause(err)
}

// typeViolation builds the violation for a value of the wrong JSON type,
// pointing at it by finding its offset in the body.
func typeViolation(e *json.UnmarshalTypeError, body []byte) Violation {
	tokens, isKey := locate(body, e.Offset)
	return Violation{Pointer: Pointer(tokens...), Detail: typeDetail(e, isKey), Rule: "type"}
}

var (
	textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()
	jsonUnmarshaler = reflect.TypeFor[json.Unmarshaler]()
)

// typeDetail says what JSON type the member needs, without the value.
func typeDetail(e *json.UnmarshalTypeError, isKey bool) string {
	t := deref(e.Type)
	if t == nil {
		return "has the wrong type"
	}
	integer := false
	var lo, hi string
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		integer = true
		bits := t.Bits()
		lo = strconv.FormatInt(-1<<(bits-1), 10)
		hi = strconv.FormatInt(1<<(bits-1)-1, 10)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		integer = true
		lo = "0"
		hi = strconv.FormatUint(math.MaxUint64>>(64-t.Bits()), 10)
	}
	if isKey {
		if integer {
			return "has a member name that is not an integer in range"
		}
		return "has a member name of the wrong form"
	}
	if num, ok := strings.CutPrefix(e.Value, "number "); ok {
		switch {
		case integer && strings.ContainsAny(num, ".eE"):
			return "must be an integer"
		case integer:
			return "must be an integer from " + lo + " to " + hi
		case t.Kind() == reflect.Float32 || t.Kind() == reflect.Float64:
			return "is out of range"
		}
	}
	if reflect.PointerTo(t).Implements(textUnmarshaler) && !reflect.PointerTo(t).Implements(jsonUnmarshaler) {
		return "must be a string"
	}
	switch t.Kind() {
	case reflect.Bool:
		return "must be a boolean"
	case reflect.Float32, reflect.Float64:
		return "must be a number"
	case reflect.String:
		return "must be a string"
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			return "must be a base64 string"
		}
		return "must be an array"
	case reflect.Array:
		return "must be an array"
	case reflect.Map, reflect.Struct:
		return "must be an object"
	}
	if integer {
		return "must be an integer"
	}
	return "has the wrong type"
}

// locate returns the reference tokens of the JSON value (or object key)
// that holds byte offset off, as encoding/json reports it in an
// UnmarshalTypeError: the end of a scalar, just after the '{' or '[' of a
// container, or inside a key. isKey says the offset fell in a key.
func locate(body []byte, off int64) (tokens []string, isKey bool) {
	type frame struct {
		object  bool
		wantKey bool
		index   int
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var stack []frame
	var path []string
	for {
		tok, err := dec.Token()
		if err != nil {
			return nil, false
		}
		end := dec.InputOffset()
		top := len(stack) - 1
		if d, ok := tok.(json.Delim); ok && (d == '}' || d == ']') {
			stack = stack[:top]
			if top > 0 {
				path = path[:len(path)-1]
				afterValue(&stack[top-1].wantKey, &stack[top-1].index, stack[top-1].object)
			}
			continue
		}
		if top >= 0 && stack[top].object && stack[top].wantKey {
			path = append(path, tok.(string))
			stack[top].wantKey = false
			if end >= off {
				return path, true
			}
			continue
		}
		if top >= 0 && !stack[top].object {
			path = append(path, strconv.Itoa(stack[top].index))
		}
		if end >= off {
			return path, false
		}
		if d, ok := tok.(json.Delim); ok {
			stack = append(stack, frame{object: d == '{', wantKey: d == '{'})
			continue
		}
		if top >= 0 {
			path = path[:len(path)-1]
			afterValue(&stack[top].wantKey, &stack[top].index, stack[top].object)
		}
	}
}

func afterValue(wantKey *bool, index *int, object bool) {
	if object {
		*wantKey = true
	} else {
		*index++
	}
}

// walker follows the body's tokens alongside the Go type being decoded into.
type walker struct {
	dec     *json.Decoder
	unknown bool // report members the type has no field for
	out     []Violation
	total   int
	stop    bool
}

// walkBody walks body against the type root. With unknown set, it lists the
// members that root's structs have no field for (at most MaxViolations,
// with the total); otherwise it looks for the first value that fails to
// decode without encoding/json saying where: one whose type has its own
// UnmarshalJSON or UnmarshalText that refuses it, bad base64 for a
// []byte, or a member with the ",string" option that is not a string
// holding a literal of its type.
func walkBody(body []byte, root reflect.Type, unknown bool) ([]Violation, int) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	w := &walker{dec: dec, unknown: unknown}
	_ = w.value(root, nil)
	return w.out, w.total
}

func (w *walker) value(t reflect.Type, path []string) error {
	t = deref(t)
	if t != nil && t.Kind() == reflect.Interface {
		t = nil
	}
	if t != nil && (reflect.PointerTo(t).Implements(jsonUnmarshaler) || reflect.PointerTo(t).Implements(textUnmarshaler)) {
		var raw json.RawMessage
		if err := w.dec.Decode(&raw); err != nil {
			return err
		}
		if !w.unknown && json.Unmarshal(raw, reflect.New(t).Interface()) != nil {
			w.out = append(w.out, Violation{Pointer: Pointer(path...), Detail: formatDetail(t), Rule: "format"})
			w.stop = true
		}
		return nil
	}
	tok, err := w.dec.Token()
	if err != nil {
		return err
	}
	if s, ok := tok.(string); ok && !w.unknown && t != nil && t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Uint8 {
		// encoding/json decodes []byte from base64 and reports a bad one
		// without saying where.
		if _, err := base64.StdEncoding.DecodeString(s); err != nil {
			w.out = append(w.out, Violation{Pointer: Pointer(path...), Detail: "must be a base64 string", Rule: "format"})
			w.stop = true
		}
		return nil
	}
	switch tok {
	case json.Delim('{'):
		var fields *fieldSet
		var elem reflect.Type
		if t != nil {
			switch t.Kind() {
			case reflect.Struct:
				fields = fieldsOf(t)
			case reflect.Map:
				elem = t.Elem()
			}
		}
		for w.dec.More() {
			tok, err := w.dec.Token()
			if err != nil {
				return err
			}
			key, _ := tok.(string)
			ft := elem
			quoted := false
			if fields != nil {
				f, known := fields.lookup(key)
				ft, quoted = f.typ, f.quoted && !w.unknown
				if !known && w.unknown {
					w.total++
					if len(w.out) < MaxViolations {
						w.out = append(w.out, Violation{Pointer: Pointer(append(path, key)...), Detail: "is not a known member", Rule: "unknown"})
					}
				}
			}
			if quoted {
				err = w.quotedValue(ft, append(path, key))
			} else {
				err = w.value(ft, append(path, key))
			}
			if err != nil || w.stop {
				return err
			}
		}
		_, err = w.dec.Token()
	case json.Delim('['):
		var elem reflect.Type
		if t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
			elem = t.Elem()
		}
		for i := 0; w.dec.More(); i++ {
			if err := w.value(elem, append(path, strconv.Itoa(i))); err != nil || w.stop {
				return err
			}
		}
		_, err = w.dec.Token()
	}
	return err
}

// quotedValue checks the value of a field with the ",string" option, which
// must be null or a JSON string holding a literal of the field's type:
// encoding/json refuses anything else without saying where.
func (w *walker) quotedValue(t reflect.Type, path []string) error {
	t = deref(t)
	if reflect.PointerTo(t).Implements(jsonUnmarshaler) || reflect.PointerTo(t).Implements(textUnmarshaler) {
		return w.value(t, path)
	}
	var raw json.RawMessage
	if err := w.dec.Decode(&raw); err != nil {
		return err
	}
	var inner string
	switch {
	case raw[0] == 'n':
		return nil
	case raw[0] != '"':
		w.out = append(w.out, Violation{Pointer: Pointer(path...), Detail: "must be a string", Rule: "type"})
		w.stop = true
		return nil
	case json.Unmarshal(raw, &inner) != nil || quotedLiteralOK(inner, t):
		return nil
	}
	detail := "must be a string holding a number"
	switch t.Kind() {
	case reflect.Bool:
		detail = "must be a string holding true or false"
	case reflect.String:
		if t != reflect.TypeFor[json.Number]() {
			detail = "must be a string holding a JSON string"
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		detail = "must be a string holding an integer"
	}
	w.out = append(w.out, Violation{Pointer: Pointer(path...), Detail: detail, Rule: "type"})
	w.stop = true
	return nil
}

// quotedLiteralOK reports whether encoding/json takes inner, the content of
// the string given for a ",string" field of type t, or at least reports
// where it failed (an UnmarshalTypeError, for a number out of range). It
// follows encoding/json's literalStore.
func quotedLiteralOK(inner string, t reflect.Type) bool {
	if inner == "null" {
		return true
	}
	if inner == "" {
		return false
	}
	isNumber := inner[0] == '-' || '0' <= inner[0] && inner[0] <= '9'
	isString := len(inner) >= 2 && inner[0] == '"' && inner[len(inner)-1] == '"' &&
		json.Unmarshal([]byte(inner), new(string)) == nil
	switch {
	case t == reflect.TypeFor[json.Number]():
		return isNumber || isString && json.Unmarshal([]byte(inner), new(json.Number)) == nil
	case t.Kind() == reflect.Bool:
		return inner == "true" || inner == "false" || isString
	case t.Kind() == reflect.String:
		return isString
	}
	return isNumber || isString
}

// formatDetail says what a custom-decoded type expects.
func formatDetail(t reflect.Type) string {
	if t == reflect.TypeFor[time.Time]() {
		return "must be a date-time in RFC 3339 format"
	}
	return "is not in a valid format"
}
