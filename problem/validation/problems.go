package validation

import (
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/backstop-go/backstop/problem"
)

const typeBase = "https://pkg.go.dev/github.com/backstop-go/backstop/problem/validation#"

// The problem types of this package. Each is an error value, so
// errors.Is(err, validation.ErrInvalid) tells what [Validator.Decode]
// found.
var (
	// ErrInvalid (422 Unprocessable Content) means the request body is well
	// formed JSON but does not fit what the server expects: a member has
	// the wrong JSON type, is not known, or breaks a validation rule. The
	// "errors" extension lists each [Violation] with a JSON Pointer to the
	// member, a detail, and the rule that failed. Correct the listed members
	// and send the request again.
	ErrInvalid = problem.Type{URI: typeBase + "ErrInvalid", Title: "Invalid request content", Status: http.StatusUnprocessableEntity}

	// ErrMalformed (400 Bad Request) means the request body is not one
	// well-formed JSON value: it has a syntax error, ends too early, or has
	// more data after the value. The "offset" extension is the zero-based
	// index of the byte where the problem was found (the length of the body
	// when it ends too early). Send valid JSON (RFC 8259).
	ErrMalformed = problem.Type{URI: typeBase + "ErrMalformed", Title: "Malformed JSON", Status: http.StatusBadRequest}

	// ErrEmptyBody (400 Bad Request) means the request has no body, or only
	// white space, where a JSON document was expected.
	ErrEmptyBody = problem.Type{URI: typeBase + "ErrEmptyBody", Title: "Empty request body", Status: http.StatusBadRequest}

	// ErrTooLarge (413 Content Too Large) means the request body is larger
	// than the server accepts. The "maxBytes" extension is the limit.
	ErrTooLarge = problem.Type{URI: typeBase + "ErrTooLarge", Title: "Request content too large", Status: http.StatusRequestEntityTooLarge}

	// ErrUnsupportedMediaType (415 Unsupported Media Type) means the
	// request's Content-Type (or Content-Encoding) is not one the server
	// accepts. The Accept response header lists the accepted media types
	// (RFC 9110 §15.5.16); Accept-Encoding is "identity" when the body was
	// compressed.
	ErrUnsupportedMediaType = problem.Type{URI: typeBase + "ErrUnsupportedMediaType", Title: "Unsupported media type", Status: http.StatusUnsupportedMediaType}
)

// MaxViolations is the most violations an [ErrInvalid] problem lists; the
// detail says when there were more.
const MaxViolations = 100

// Violation is one item of the "errors" extension of an [ErrInvalid]
// problem, in the shape RFC 9457 §3 shows for validation errors.
type Violation struct {
	// Pointer is a JSON Pointer (RFC 6901) to the member in the request
	// body, in URI fragment form ("#/items/0/quantity"); see [Pointer].
	Pointer string `json:"pointer"`
	// Detail says what is wrong, in terms the client can act on. It never
	// contains the submitted value.
	Detail string `json:"detail"`
	// Rule is a stable code for what failed: the validator tag ("required",
	// "min", "email", ...), "type" for a value of the wrong JSON type,
	// "unknown" for a member the server does not know, or "format" for a
	// value its type refused to decode (a malformed date or base64 string).
	Rule string `json:"rule,omitempty"`
	// Param is the rule's parameter ("1" for min=1), with field names given
	// as JSON names. Empty when the rule has none.
	Param string `json:"param,omitempty"`
}

// Invalid returns an [ErrInvalid] problem listing vs, for checks that
// happen after decoding (a SKU that does not exist, an email address that
// is taken) and should reach the client in the same shape as validation
// failures.
//
//	return validation.Invalid(validation.Violation{
//		Pointer: validation.Pointer("email"),
//		Detail:  "is already registered",
//		Rule:    "unique_email",
//	})
func Invalid(vs ...Violation) *problem.Problem {
	return invalidProblem(vs, len(vs))
}

// invalidProblem lists the first MaxViolations of vs, of total violations.
func invalidProblem(vs []Violation, total int) *problem.Problem {
	if len(vs) > MaxViolations {
		vs = vs[:MaxViolations:MaxViolations]
	}
	total = max(total, len(vs))
	var detail string
	switch {
	case total == 1:
		detail = "The request content has 1 error."
	case total > len(vs):
		detail = "The request content has " + strconv.Itoa(total) + " errors; the first " +
			strconv.Itoa(len(vs)) + " are listed."
	default:
		detail = "The request content has " + strconv.Itoa(total) + " errors."
	}
	if vs == nil {
		vs = []Violation{}
	}
	return ErrInvalid.New(detail).With("errors", vs)
}

// Violations returns the violations listed by the problem in err's chain:
// one built by this package, or one read back with [problem.Parse]. It
// returns nil when there are none.
func Violations(err error) []Violation {
	p, ok := problem.From(err)
	if !ok {
		return nil
	}
	switch v := p.Extensions["errors"].(type) {
	case []Violation:
		return v
	case nil:
		return nil
	default:
		// A parsed problem holds generic JSON values: take the members that
		// have the expected types, as RFC 9457 §3.1 asks.
		b, err := json.Marshal(v)
		if err != nil {
			return nil
		}
		var items []json.RawMessage
		if json.Unmarshal(b, &items) != nil {
			return nil
		}
		out := make([]Violation, 0, len(items))
		for _, item := range items {
			var m map[string]any
			if json.Unmarshal(item, &m) != nil {
				continue
			}
			var vi Violation
			vi.Pointer, _ = m["pointer"].(string)
			vi.Detail, _ = m["detail"].(string)
			vi.Rule, _ = m["rule"].(string)
			vi.Param, _ = m["param"].(string)
			out = append(out, vi)
		}
		return out
	}
}
