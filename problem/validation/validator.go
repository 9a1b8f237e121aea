package validation

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/go-playground/validator/v10"

	"github.com/backstop-go/backstop/problem"
)

// DefaultMaxBytes is the request body limit of a [Validator] whose
// Options.MaxBytes is zero: 1 MiB.
const DefaultMaxBytes = 1 << 20

// Options configure a [Validator]. The zero value of each field is its
// documented default.
type Options struct {
	// Validate checks decoded values. Nil means a *validator.Validate
	// shared by all such Validators, with WithRequiredStructEnabled and
	// WithTagNameFuncBlankOmit, and [JSONFieldName] as its tag name
	// function. Pass your own to keep your
	// custom validations and aliases: pointers are built from the Go types
	// and JSON tags, whatever its tag name function. It must not be
	// reconfigured once in use (validator's own rule).
	Validate *validator.Validate

	// MaxBytes is the largest request body [Validator.Decode] reads; a
	// larger one is answered with [ErrTooLarge]. Zero means
	// [DefaultMaxBytes]; a negative value is an error.
	MaxBytes int64

	// ContentTypes lists the media types accepted in the request's
	// Content-Type, compared without parameters and ignoring case. An empty
	// string accepts a request without Content-Type, and "*/*" accepts any
	// Content-Type (but not a missing one).
	// Nil means "application/json" and every "application/<name>+json".
	// Others are answered with [ErrUnsupportedMediaType], and so is a
	// charset other than UTF-8 (RFC 8259 §8.1).
	ContentTypes []string

	// AllowUnknownFields makes Decode ignore members of the body that the
	// destination has no field for, as encoding/json does by default. When
	// false (the default), they are answered with [ErrInvalid], each listed
	// with rule "unknown", so that a misspelt member does not pass silently.
	AllowUnknownFields bool

	// LenientNames restores encoding/json's handling of member names: a
	// member binds to a field whose JSON name matches in any case
	// ("AMOUNT" fills the field named "amount"), and a name repeated in one
	// object is accepted, its last value winning. By default a member binds
	// only to the field of exactly its name (others are unknown members),
	// and a repeated name is answered with [ErrMalformed] pointing at it,
	// so that {"amount":1,"AMOUNT":1000000} cannot mean one thing to this
	// service and another to the proxy or log pipeline in front of it.
	LenientNames bool

	// Message returns the detail of a failed validation rule, replacing the
	// built-in English text; returning "" keeps the built-in text. Use it to
	// translate, for example with universal-translator:
	//
	//	Message: func(fe validator.FieldError) string { return fe.Translate(trans) },
	//
	// To answer each client in its language, build one Validator per locale
	// (sharing one *validator.Validate) and pick one by Accept-Language.
	// Nil means the built-in text, which never names the field (the pointer
	// does) nor the submitted value.
	Message func(validator.FieldError) string
}

// Validator decodes JSON request bodies and validates them, and turns every
// failure into a *problem.Problem. Build one with [New] at start-up; the
// zero value is the Validator that New(Options{}) returns. A Validator is
// safe for concurrent use.
type Validator struct {
	validate     *validator.Validate // nil means defaultValidate()
	maxBytes     int64               // 0 means DefaultMaxBytes
	contentTypes []string            // lower case; nil means the JSON default
	acceptHeader string              // for contentTypes other than nil
	allowUnknown bool
	lenientNames bool
	message      func(validator.FieldError) string
}

// defaultValidate is the *validator.Validate of Validators built without
// Options.Validate: it caches what it learns of each type, so all of them
// share it.
var defaultValidate = sync.OnceValue(func() *validator.Validate {
	v := validator.New(validator.WithRequiredStructEnabled(), validator.WithTagNameFuncBlankOmit())
	v.RegisterTagNameFunc(JSONFieldName)
	return v
})

func (v *Validator) validator() *validator.Validate {
	if v.validate == nil {
		return defaultValidate()
	}
	return v.validate
}

func (v *Validator) limit() int64 {
	if v.maxBytes == 0 {
		return DefaultMaxBytes
	}
	return v.maxBytes
}

// New returns a Validator configured by opts. It fails when opts.MaxBytes
// is negative or an entry of opts.ContentTypes is not a media type.
func New(opts Options) (*Validator, error) {
	v := &Validator{
		validate:     opts.Validate,
		maxBytes:     opts.MaxBytes,
		allowUnknown: opts.AllowUnknownFields,
		lenientNames: opts.LenientNames,
		message:      opts.Message,
	}
	if v.maxBytes < 0 {
		return nil, fmt.Errorf("validation: MaxBytes is negative (%d)", v.maxBytes)
	}
	if opts.ContentTypes != nil {
		v.contentTypes = make([]string, 0, len(opts.ContentTypes))
		var accept []string
		for _, ct := range opts.ContentTypes {
			if ct == "" || ct == "*/*" {
				v.contentTypes = append(v.contentTypes, ct)
				continue
			}
			mt, params, err := mime.ParseMediaType(ct)
			if err != nil || len(params) > 0 || !strings.Contains(mt, "/") {
				return nil, fmt.Errorf("validation: ContentTypes entry %q is not a media type without parameters", ct)
			}
			v.contentTypes = append(v.contentTypes, mt)
			accept = append(accept, mt)
		}
		v.acceptHeader = strings.Join(accept, ", ")
	}
	return v, nil
}

// Validate checks s, a struct (or a pointer to one) or a slice, array or
// map of structs, with the validator's rules. It returns nil when s is
// valid, an [ErrInvalid] problem listing the violations with pointers into
// s's JSON form, or, when s cannot be validated at all (nil, or not a
// struct: validator.InvalidValidationError), a 500 problem whose cause is
// that error — a programming error, not the client's.
func (v *Validator) Validate(ctx context.Context, s any) error {
	return v.check(ctx, s, true)
}

// check validates s; strict makes values that hold no struct a programming
// error, as validator does. Decode is not strict: a body decoded into a
// *string has nothing to validate.
func (v *Validator) check(ctx context.Context, s any, strict bool) error {
	rv := reflect.ValueOf(s)
	for rv.Kind() == reflect.Pointer && !rv.IsNil() && rv.Elem().Kind() == reflect.Pointer {
		rv = rv.Elem()
	}
	base := reflect.Indirect(rv)
	var err error
	switch {
	case base.Kind() == reflect.Struct:
		err = v.validator().StructCtx(ctx, rv.Interface())
	case (base.Kind() == reflect.Slice || base.Kind() == reflect.Array || base.Kind() == reflect.Map) &&
		deref(base.Type().Elem()).Kind() == reflect.Struct:
		err = v.validator().VarCtx(ctx, base.Interface(), "dive")
	case !strict:
		return nil // a scalar, a nil pointer (the body was null): nothing to validate
	default:
		err = v.validator().StructCtx(ctx, s) // an InvalidValidationError
	}
	if err == nil {
		return nil
	}
	var root reflect.Type
	if rv.IsValid() {
		root = rv.Type()
	}
	if p, ok := v.problem(err, root); ok {
		return p
	}
	// A custom validation may return other errors; they are the server's.
	return problem.New(http.StatusInternalServerError, "").WithCause(err)
}

// Problem turns err into a problem when it is one this package knows: a
// *problem.Problem in err's chain (as returned by [Validator.Decode] and
// [Validator.Validate]) is returned as it is; validator.ValidationErrors
// becomes an [ErrInvalid] problem; *validator.InvalidValidationError
// becomes a 500 problem with err as its cause. For other errors it returns
// nil and false.
//
// Without the validated type at hand, Problem builds pointers from each
// error's Namespace, so they hold JSON names only when the validator's tag
// name function gives them (the default validator's does), and a name that
// holds '.' or '[' is split. [Validator.Validate] has no such limits.
func (v *Validator) Problem(err error) (*problem.Problem, bool) {
	return v.problem(err, nil)
}

func (v *Validator) problem(err error, root reflect.Type) (*problem.Problem, bool) {
	if err == nil {
		return nil, false
	}
	if p, ok := problem.From(err); ok {
		return p, true
	}
	var invalid *validator.InvalidValidationError
	if errors.As(err, &invalid) {
		return problem.New(http.StatusInternalServerError, "").WithCause(err), true
	}
	var ve validator.ValidationErrors
	if !errors.As(err, &ve) {
		return nil, false
	}
	vs := make([]Violation, 0, len(ve))
	for _, fe := range ve {
		vs = append(vs, v.violation(fe, root))
	}
	return invalid422(vs).WithCause(err), true
}

// violation maps one validator error.
func (v *Validator) violation(fe validator.FieldError, root reflect.Type) Violation {
	var tokens []string
	var parent reflect.Type
	typed := false
	if root != nil {
		tokens, parent, typed = typedPath(root, fe.StructNamespace())
	}
	if !typed {
		tokens = namespacePath(fe.Namespace(), fe.StructNamespace())
	}
	param := displayParam(fe.Tag(), fe.Param(), parent, typed)
	detail := ""
	if v.message != nil {
		detail = v.message(fe)
	}
	if detail == "" {
		detail = message(fe, param)
	}
	return Violation{Pointer: Pointer(tokens...), Detail: detail, Rule: fe.Tag(), Param: param}
}

// Parameters that name fields, which must reach the client as JSON names.
var (
	fieldParamTags = map[string]bool{
		"eqfield": true, "nefield": true, "gtfield": true, "gtefield": true, "ltfield": true,
		"ltefield": true, "fieldcontains": true, "fieldexcludes": true,
		"required_with": true, "required_with_all": true, "required_without": true,
		"required_without_all": true, "excluded_with": true, "excluded_with_all": true,
		"excluded_without": true, "excluded_without_all": true,
	}
	pairParamTags = map[string]bool{
		"required_if": true, "required_unless": true, "excluded_if": true,
		"excluded_unless": true, "skip_unless": true,
	}
	crossStructTags = map[string]bool{
		"eqcsfield": true, "necsfield": true, "gtcsfield": true, "gtecsfield": true,
		"ltcsfield": true, "ltecsfield": true,
	}
)

// displayParam rewrites the Go field names in a rule's parameter as JSON
// names, using parent, the struct that holds the failing field. Where that
// cannot be done, it drops the parameter rather than show Go names.
func displayParam(tag, param string, parent reflect.Type, typed bool) string {
	fieldTag, pairTag := fieldParamTags[tag], pairParamTags[tag]
	switch {
	case crossStructTags[tag]:
		return ""
	case !fieldTag && !pairTag:
		return param
	case !typed || parent == nil:
		return ""
	}
	words := strings.Fields(param)
	for i, w := range words {
		if pairTag && i%2 == 1 {
			continue // a value, not a field name
		}
		sf, ok := parent.FieldByName(w)
		if !ok || !inObject(parent, sf.Index) {
			return ""
		}
		name, promoted, ok := jsonName(sf)
		if !ok || promoted {
			return ""
		}
		words[i] = name
	}
	return strings.Join(words, " ")
}

// inObject reports whether the field of t at index (as reflect's
// FieldByName gives it) is a member of t's own JSON object: Go promotes the
// fields of every embedded struct, JSON only those of an embedded struct
// without a name in its json tag (and not tagged "-").
func inObject(t reflect.Type, index []int) bool {
	for _, i := range index[:len(index)-1] {
		f := t.Field(i)
		if _, promoted, ok := jsonName(f); !ok || !promoted {
			return false
		}
		t = deref(f.Type)
	}
	return true
}

// invalid422 sorts vs by pointer (map keys come in random order from the
// validator) and wraps them in an ErrInvalid problem.
func invalid422(vs []Violation) *problem.Problem {
	sortViolations(vs)
	return invalidProblem(vs, len(vs))
}

func sortViolations(vs []Violation) {
	slices.SortStableFunc(vs, func(a, b Violation) int { return comparePointers(a.Pointer, b.Pointer) })
}

// comparePointers orders pointers token by token, numbers numerically, so
// that "#/items/2" comes before "#/items/10".
func comparePointers(a, b string) int {
	for a != "" && b != "" {
		var ta, tb string
		ta, a, _ = strings.Cut(a, "/")
		tb, b, _ = strings.Cut(b, "/")
		if ta == tb {
			continue
		}
		na, errA := strconv.ParseUint(ta, 10, 64)
		nb, errB := strconv.ParseUint(tb, 10, 64)
		if errA == nil && errB == nil {
			return cmp.Compare(na, nb)
		}
		return strings.Compare(ta, tb)
	}
	return cmp.Compare(len(a), len(b))
}
