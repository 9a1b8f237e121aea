// Package problem writes and reads RFC 9457 Problem Details: the one error
// format of every Backstop package, and of the services built with it.
//
// Declare each kind of failure once as a [Type], with a stable URI, a title
// and a status, and return occurrences of it as errors:
//
//	var OutOfCredit = problem.Type{
//		URI:    "https://example.com/probs/out-of-credit",
//		Title:  "You do not have enough credit.",
//		Status: http.StatusForbidden,
//	}
//
//	func buy(w http.ResponseWriter, r *http.Request) error {
//		if balance < price {
//			return OutOfCredit.New("Your balance is 30, but that costs 50.").
//				With("balance", 30)
//		}
//		...
//	}
//
//	mux.Handle("POST /buy", problem.HandlerFunc(buy))
//
// [Write] sends a problem with the status code and the "status" member set
// from the same value, as application/problem+json (or the XML form of
// Appendix B to clients that prefer it; never a 406). Errors that are not
// problems become a generic 500 whose cause is logged with log/slog and
// never sent, so internal error text cannot leak. When an OpenTelemetry
// span is active, a "traceId" member carries its trace id, so a client's
// bug report leads straight to the trace.
//
// [Recover] turns panics into the same generic 500, and [Parse] reads a
// problem back from an *http.Response for Go clients and tests.
//
// Extension members are flattened to the top level of the object, as in
// the RFC's examples; names of standard members are refused. Parsing is
// lenient, as RFC 9457 §3.1 requires: members of the wrong type are ignored,
// a missing type means about:blank, and unknown members are kept.
//
// The zero [Writer] is the default one; [NewWriter] panics on an option
// that only a programming mistake produces (a trace id member named like a
// standard member).
//
// # What importing problem costs
//
// The package imports the standard library and the OpenTelemetry trace API
// (go.opentelemetry.io/otel/trace), which is how it reads the trace id from
// a request's context; the API is a no-op until an SDK is installed. That
// API is about 23,600 lines in nine packages, 16,000 of them its
// semantic-conventions package. Measured with Go 1.26 on a minimal server
// that writes one problem, it adds about 0.2 MB to the binary (9.31 MB
// against 9.10 MB without the trace lookup; 0.14 MB stripped) and about
// 2.4 s of CPU to a build with a cold cache (2.9 s against 0.5 s of user
// time for the package and what it needs beyond the standard library,
// median of three builds). It is kept because the traceId member is what
// turns a client's bug report into a trace, and because Backstop's
// middleware packages, which record their decisions on the active span,
// import the same API anyway. Mapping go-playground/validator errors lives
// in problem/validation, so importing problem does not compile validator.
package problem
