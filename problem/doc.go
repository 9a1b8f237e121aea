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
// The package imports only the standard library and the OpenTelemetry trace
// API. Mapping go-playground/validator errors to problems lives in
// problem/validation, so importing problem stays cheap.
package problem
