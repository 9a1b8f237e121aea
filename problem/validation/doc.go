// Package validation decodes JSON request bodies, validates them with
// go-playground/validator, and reports every failure as an RFC 9457
// problem, so a handler needs one call and one error check:
//
//	var v validation.Validator // the defaults; or validation.New(opts) to change them
//	mux.Handle("POST /orders", problem.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
//		var req CreateOrder
//		if err := v.Decode(r, &req); err != nil {
//			return err // 400, 413, 415 or 422, written by problem.Write
//		}
//		...
//	}))
//
// Validation failures, values of the wrong JSON type and unknown members
// all become one 422 problem of type [ErrInvalid] with an "errors"
// extension, in the shape RFC 9457 §3 shows:
//
//	{"type":"https://pkg.go.dev/github.com/backstop-go/backstop/problem/validation#ErrInvalid",
//	 "title":"Invalid request content","status":422,
//	 "detail":"The request content has 2 errors.",
//	 "errors":[{"pointer":"#/email","detail":"must be a valid email address","rule":"email"},
//	           {"pointer":"#/items/0/quantity","detail":"must be 1 or greater","rule":"min","param":"1"}]}
//
// Each pointer is a JSON Pointer (RFC 6901) into the request body, built
// from the JSON names of the fields (their json tags, with embedded structs
// promoted as encoding/json does) and escaped for a URI fragment. Details
// are neutral English that never repeat the submitted value, which may be a
// password; Options.Message replaces them, for example with
// universal-translator. Rule names ("min", "type", "unknown") are stable
// codes a client can act on.
//
// Broken requests get their own types: [ErrMalformed] (400, with the byte
// offset), [ErrEmptyBody] (400), [ErrTooLarge] (413) and
// [ErrUnsupportedMediaType] (415). A validator misuse, such as validating
// a nil pointer, is a programming error and becomes a 500 whose cause is
// logged by problem.Write and never sent.
//
// # Decoding
//
// Bodies are decoded by github.com/go-json-experiment/json, the module
// that mirrors Go's encoding/json/v2 (standard from Go 1.27; behind
// GOEXPERIMENT=jsonv2 in Go 1.25 and 1.26, which users would have to set),
// with encoding/json's semantics for everything but member names and error
// reporting, so types written for encoding/json decode as before. A member
// binds only to the field of exactly its name, and an object that repeats a
// member name is malformed: {"amount":1,"AMOUNT":1000000} is refused, where
// encoding/json would have bound 1000000 to Amount. Options.LenientNames
// restores encoding/json's behaviour. The decoder stops at the first
// failure and says where it is, so an invalid body costs about what a valid
// one does; unknown members are all listed, by a walk of the body's tokens.
// The body is read into a buffer that grows with the bytes that arrive, never
// sized from Content-Length.
//
// The package is separate from problem so that only services that use
// validator compile it.
package validation
