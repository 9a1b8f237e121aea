package problem

import (
	"errors"
	"net/http"
	"strconv"
)

// BlankType is the problem type that means "no more than the status code":
// RFC 9457 §4.2.1. A Problem whose Type is empty is written with this type.
const BlankType = "about:blank"

// Problem is one occurrence of a problem, as RFC 9457 defines it.
//
// The five standard members are fields; extension members live in
// Extensions and are flattened to the top level of the JSON object (and
// become child elements in XML). Header holds response headers that belong
// to the problem, such as Retry-After, WWW-Authenticate or Allow; it is
// written by [Write] and never serialised into the body.
//
// A Problem is an error: return it from a [HandlerFunc], wrap it with
// fmt.Errorf("...: %w", p), and find it again with errors.As. The cause set
// by [Problem.WithCause] is reachable through Unwrap and logged by [Write]
// for 5xx problems, but is never sent to the client.
//
// The zero value is not useful; create problems with [New] or [Type.New].
// A Problem is not safe for concurrent mutation, but may be written
// concurrently once built.
type Problem struct {
	// Type is a URI reference that identifies the problem type. Empty means
	// "about:blank".
	Type string
	// Title is a short summary of the problem type. When Type is empty or
	// about:blank and Title is empty, the status text is written.
	Title string
	// Status is the HTTP status code. [Write] uses it for both the response
	// and the "status" member.
	Status int
	// Detail explains this occurrence to the client.
	Detail string
	// Instance is a URI reference that identifies this occurrence.
	Instance string
	// Extensions holds extension members by name. Names equal to a standard
	// member ("type", "title", "status", "detail", "instance") are rejected:
	// MarshalJSON returns an error and [Write] answers with a generic 500.
	Extensions map[string]any
	// Header holds headers written with the response by [Write].
	Header http.Header

	cause error
}

// New returns a problem of type about:blank with the given status and detail.
// Its title is the status text, as RFC 9457 §4.2.1 recommends.
func New(status int, detail string) *Problem {
	return &Problem{Status: status, Detail: detail}
}

// With sets the extension member name to value and returns p. A name equal
// to a standard member is rejected when the problem is written (see
// Extensions); use [Problem.SetExtension] to learn of it at once.
func (p *Problem) With(name string, value any) *Problem {
	if p.Extensions == nil {
		p.Extensions = make(map[string]any, 2)
	}
	p.Extensions[name] = value
	return p
}

// SetExtension sets the extension member name to value, or returns a
// *[ReservedMemberError] when name is one of the standard members.
func (p *Problem) SetExtension(name string, value any) error {
	if isReserved(name) {
		return &ReservedMemberError{Name: name}
	}
	p.With(name, value)
	return nil
}

// WithHeader adds a response header to p and returns p.
func (p *Problem) WithHeader(key, value string) *Problem {
	if p.Header == nil {
		p.Header = make(http.Header, 1)
	}
	p.Header.Add(key, value)
	return p
}

// WithCause records the internal error behind p and returns p. The cause is
// reachable with errors.Is, errors.As and Unwrap, and is logged for 5xx
// problems; it is never serialised.
func (p *Problem) WithCause(err error) *Problem {
	p.cause = err
	return p
}

// Error returns a one-line description: status, title and detail. It is for
// logs and tests; clients see the serialised problem.
func (p *Problem) Error() string {
	if p == nil {
		return "<nil>"
	}
	b := make([]byte, 0, 64)
	b = strconv.AppendInt(b, int64(p.Status), 10)
	b = append(b, ' ')
	b = append(b, p.title()...)
	if p.Detail != "" {
		b = append(b, ": "...)
		b = append(b, p.Detail...)
	}
	return string(b)
}

// Unwrap returns the cause set by [Problem.WithCause], or nil.
func (p *Problem) Unwrap() error {
	if p == nil {
		return nil
	}
	return p.cause
}

// Is reports whether target is a [Type] with the same URI as p, so that
// errors.Is(err, somepkg.SomeType) tells the kind of a problem.
func (p *Problem) Is(target error) bool {
	t, ok := target.(Type)
	return ok && p != nil && t.URI != "" && t.URI == p.Type
}

// typeURI returns the type to write: about:blank when Type is empty.
func (p *Problem) typeURI() string {
	if p.Type == "" {
		return BlankType
	}
	return p.Type
}

// title returns the title to write: the status text when the problem is of
// type about:blank and has no title of its own.
func (p *Problem) title() string {
	if p.Title == "" && (p.Type == "" || p.Type == BlankType) {
		return http.StatusText(p.Status)
	}
	return p.Title
}

// Type declares a problem type once, as RFC 9457 §4 asks: a URI that
// identifies it (and, when it is a URL, documents it), a title that does not
// change between occurrences, and the status it is used with.
//
// Declare types as package variables and create occurrences with [Type.New]:
//
//	var OutOfCredit = problem.Type{
//		URI:    "https://example.com/probs/out-of-credit",
//		Title:  "You do not have enough credit.",
//		Status: http.StatusForbidden,
//	}
//
//	return OutOfCredit.New("Your balance is 30, but that costs 50.").With("balance", 30)
//
// A Type is also an error value, so errors.Is(err, OutOfCredit) reports
// whether err holds a problem of that type.
type Type struct {
	// URI identifies the type. Absolute URIs are recommended.
	URI string
	// Title is the short, stable summary of the type.
	Title string
	// Status is the HTTP status code of every occurrence.
	Status int
}

// New returns an occurrence of t with the given detail.
func (t Type) New(detail string) *Problem {
	return &Problem{Type: t.URI, Title: t.Title, Status: t.Status, Detail: detail}
}

// Error returns t's title, so a Type can serve as an errors.Is target.
func (t Type) Error() string {
	if t.Title != "" {
		return t.Title
	}
	return t.URI
}

// ReservedMemberError reports an extension member whose name is one of the
// standard members of RFC 9457 and so cannot be an extension.
type ReservedMemberError struct {
	// Name is the rejected member name.
	Name string
}

// Error implements error.
func (e *ReservedMemberError) Error() string {
	return "problem: extension member " + strconv.Quote(e.Name) + " collides with a standard member"
}

func isReserved(name string) bool {
	switch name {
	case "type", "title", "status", "detail", "instance":
		return true
	}
	return false
}

// From returns the *Problem in err's chain, or nil and false when there is
// none.
func From(err error) (*Problem, bool) {
	if p, ok := err.(*Problem); ok { // the common case, without errors.As
		return p, p != nil
	}
	var p *Problem
	if errors.As(err, &p) && p != nil {
		return p, true
	}
	return nil, false
}
