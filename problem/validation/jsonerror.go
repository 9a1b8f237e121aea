package validation

import (
	"bytes"
	"encoding"
	stdjson "encoding/json"
	"errors"
	"io"
	"math"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"time"

	json "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	jsonv1 "github.com/go-json-experiment/json/v1"

	"github.com/backstop-go/backstop/problem"
)

// decodeProblem maps a decoding error to a problem. The decoder stops at
// the first failure and says where it is (a JSON Pointer and a byte
// offset), so nothing here re-decodes the body: an invalid body costs about
// what a valid one does.
//
// A body that is not one well-formed JSON value is malformed (400) even
// when decoding stopped earlier, on a value of the wrong type: that takes
// one more pass over the bytes, without decoding them.
func decodeProblem(err error, body []byte, root reflect.Type, opts json.Options) error {
	if p := syntaxProblem(body, opts); p != nil {
		return p.WithCause(err)
	}
	var se *json.SemanticError
	if !errors.As(err, &se) {
		// A type's UnmarshalText may return a jsontext.SyntacticError of
		// its own, which the decoder passes on as it is; the body itself is
		// well formed, so the value was refused, wherever it was.
		return invalid422([]Violation{{Pointer: "#", Detail: "has a value that cannot be decoded", Rule: "format"}}).WithCause(err)
	}
	if se.Err == json.ErrUnknownName {
		if vs, total := unknownMembers(body, root, opts); len(vs) > 0 {
			return invalidProblem(vs, total).WithCause(err)
		}
	}
	if isTypeDefinitionError(se) {
		return problem.New(http.StatusInternalServerError, "").WithCause(err)
	}
	return invalid422([]Violation{semanticViolation(se, root)}).WithCause(err)
}

// syntaxProblem returns the ErrMalformed problem for a body that is not
// exactly one well-formed JSON value under opts (which decide whether a
// repeated member name is an error), or nil.
func syntaxProblem(body []byte, opts json.Options) *problem.Problem {
	dec := jsontext.NewDecoder(bytes.NewBuffer(body), opts)
	err := dec.SkipValue()
	if err == nil {
		if dec.PeekKind() != 0 {
			unread := dec.UnreadBuffer()
			offset := dec.InputOffset() + int64(len(unread)-len(bytes.TrimLeft(unread, " \t\r\n")))
			return malformed("The request body holds more than one JSON value.", offset)
		}
		if _, err = dec.ReadToken(); err == io.EOF {
			return nil
		}
	}
	var syn *jsontext.SyntacticError
	if !errors.As(err, &syn) {
		return malformed("The request body is not valid JSON.", dec.InputOffset())
	}
	switch {
	case errors.Is(syn.Err, io.ErrUnexpectedEOF):
		return malformed("The request body ends in the middle of a JSON value.", int64(len(body)))
	case syn.Err == jsontext.ErrDuplicateName:
		return malformed("The request body repeats a member name in one object.", syn.ByteOffset).
			With("pointer", jsonPointer(syn.JSONPointer))
	}
	return malformed("The request body is not valid JSON.", syn.ByteOffset)
}

// jsonPointer converts a pointer of the decoder (RFC 6901 string form) to
// the URI fragment form of [Pointer].
func jsonPointer(p jsontext.Pointer) string {
	var tokens []string
	for tok := range p.Tokens() {
		tokens = append(tokens, tok)
	}
	return Pointer(tokens...)
}

var (
	textUnmarshaler     = reflect.TypeFor[encoding.TextUnmarshaler]()
	jsonUnmarshaler     = reflect.TypeFor[json.Unmarshaler]()
	jsonUnmarshalerFrom = reflect.TypeFor[json.UnmarshalerFrom]()
)

// hasMethods reports whether values of t decode through a method of their
// own: UnmarshalJSON, UnmarshalJSONFrom or UnmarshalText.
func hasMethods(t reflect.Type) bool {
	pt := reflect.PointerTo(t)
	return pt.Implements(jsonUnmarshaler) || pt.Implements(jsonUnmarshalerFrom) || pt.Implements(textUnmarshaler)
}

// isTypeDefinitionError reports whether se blames the Go type rather than
// the JSON: a struct that encoding/json would silently misread, such as two
// fields with one JSON name, or a json tag on an unexported field. Those
// are the server's bugs.
func isTypeDefinitionError(se *json.SemanticError) bool {
	t := deref(se.GoType)
	return t != nil && t.Kind() == reflect.Struct && !hasMethods(t) && se.Err != nil && se.Err != json.ErrUnknownName
}

// resolve returns the type of the value that tokens reach from root, as
// the decoder follows them, with pointers stripped, and the struct field
// that holds it (the zero jsonField when it is not a field). The type is
// nil where the value is decoded by a method of a type on the way or into
// an interface.
func resolve(root reflect.Type, tokens []string) (reflect.Type, jsonField) {
	t := deref(root)
	var field jsonField
	for _, tok := range tokens {
		if t == nil || hasMethods(t) {
			return nil, jsonField{}
		}
		field = jsonField{}
		switch t.Kind() {
		case reflect.Struct:
			f, ok := fieldsOf(t).lookup(tok, true)
			if !ok {
				return nil, jsonField{}
			}
			field = f
			t = deref(f.typ)
		case reflect.Map, reflect.Slice, reflect.Array:
			t = deref(t.Elem())
		default:
			return nil, jsonField{}
		}
	}
	if t != nil && t.Kind() == reflect.Interface {
		t = nil
	}
	return t, field
}

// semanticViolation describes a value that does not fit its Go type,
// pointing at it.
func semanticViolation(se *json.SemanticError, root reflect.Type) Violation {
	var tokens []string
	for tok := range se.JSONPointer.Tokens() {
		tokens = append(tokens, tok)
	}
	ptr := Pointer(tokens...)
	t := deref(se.GoType)
	var field jsonField
	if len(tokens) > 0 {
		_, field = resolve(root, tokens)
	}
	switch {
	case se.Err == json.ErrUnknownName:
		return Violation{Pointer: ptr, Detail: "is not a known member", Rule: "unknown"}
	case t == nil || t.Kind() == reflect.Interface:
		return Violation{Pointer: ptr, Detail: "has a value that cannot be decoded", Rule: "format"}
	case inMapKey(se, root, tokens, t):
		if isInteger(t) {
			return Violation{Pointer: ptr, Detail: "has a member name that is not an integer in range", Rule: "type"}
		}
		return Violation{Pointer: ptr, Detail: "has a member name of the wrong form", Rule: "type"}
	case hasMethods(t) && !isNumber(t):
		return Violation{Pointer: ptr, Detail: formatDetail(t), Rule: "format"}
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Uint8 && se.Err != nil:
		return Violation{Pointer: ptr, Detail: "must be a base64 string", Rule: "format"}
	case field.quoted && se.JSONKind != '"' && se.JSONKind != 'n':
		return Violation{Pointer: ptr, Detail: "must be a string", Rule: "type"}
	case field.quoted && !errors.Is(se.Err, strconv.ErrRange):
		return Violation{Pointer: ptr, Detail: quotedDetail(t), Rule: "type"}
	}
	return Violation{Pointer: ptr, Detail: typeDetail(t, se), Rule: "type"}
}

// inMapKey reports whether the failure is in the member name of a map
// rather than in its value: the map's key type failed to parse the name.
// When key and value have the same type, a value fails for being a string
// (without an error of its own) where a name fails to parse.
func inMapKey(se *json.SemanticError, root reflect.Type, tokens []string, t reflect.Type) bool {
	if len(tokens) == 0 {
		return false
	}
	parent, _ := resolve(root, tokens[:len(tokens)-1])
	if parent == nil || parent.Kind() != reflect.Map || deref(parent.Key()) != t {
		return false
	}
	return deref(parent.Elem()) != t || se.Err != nil && se.JSONKind == '"' && isInteger(t)
}

var (
	stdNumber = reflect.TypeFor[stdjson.Number]()
	v1Number  = reflect.TypeFor[jsonv1.Number]()
)

// isNumber reports whether t is encoding/json's Number (or its twin of
// the v1 package), which holds a JSON number as a string.
func isNumber(t reflect.Type) bool { return t == stdNumber || t == v1Number }

func isInteger(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return true
	}
	return false
}

// typeDetail says what JSON type the member needs, without the value.
func typeDetail(t reflect.Type, se *json.SemanticError) string {
	var lo, hi string
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		bits := t.Bits()
		lo = strconv.FormatInt(-1<<(bits-1), 10)
		hi = strconv.FormatInt(1<<(bits-1)-1, 10)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		lo = "0"
		hi = strconv.FormatUint(math.MaxUint64>>(64-t.Bits()), 10)
	}
	if se.Err != nil && (se.JSONKind == '0' || se.JSONKind == '"') {
		// A number (or the string of a ",string" field) that does not fit.
		num := string(se.JSONValue)
		switch {
		case lo != "" && strings.ContainsAny(num, ".eE"):
			return "must be an integer"
		case lo != "":
			return "must be an integer from " + lo + " to " + hi
		case t.Kind() == reflect.Float32 || t.Kind() == reflect.Float64:
			return "is out of range"
		}
	}
	if isNumber(t) {
		return "must be a number"
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
	if lo != "" {
		return "must be an integer"
	}
	return "has the wrong type"
}

// quotedDetail says what the string of a ",string" field must hold.
func quotedDetail(t reflect.Type) string {
	switch {
	case t.Kind() == reflect.Bool:
		return "must be a string holding true or false"
	case t.Kind() == reflect.String && !isNumber(t):
		return "must be a string holding a JSON string"
	case isInteger(t):
		return "must be a string holding an integer"
	}
	return "must be a string holding a number"
}

// formatDetail says what a custom-decoded type expects.
func formatDetail(t reflect.Type) string {
	if t == reflect.TypeFor[time.Time]() {
		return "must be a date-time in RFC 3339 format"
	}
	return "is not in a valid format"
}
