package pagination

import (
	"net/http"

	"github.com/backstop-go/backstop/problem"
)

const typeBase = "https://pkg.go.dev/github.com/backstop-go/backstop/pagination#"

// Problem types of the errors that [Codec.Decode] and [Paginator.Parse]
// return. Every one is a client error written as 400 Bad Request by
// problem.Write; test for them with errors.Is:
//
//	if errors.Is(err, pagination.ErrCursorExpired) { ... }
//
// The detail of an occurrence names the parameter at fault but never echoes
// the cursor or reveals which check failed beyond what the type says.
var (
	// ErrCursorMalformed is the type of a cursor that is not one this
	// package issued: bad base64, too long, truncated, an unknown format
	// version, or contents that do not decode. The client should drop the
	// cursor and start again from the first page.
	ErrCursorMalformed = problem.Type{
		URI:    typeBase + "ErrCursorMalformed",
		Title:  "Malformed cursor",
		Status: http.StatusBadRequest,
	}
	// ErrCursorTampered is the type of a cursor whose signature (or
	// authenticated encryption) does not verify: it was modified, truncated
	// or forged. The client should drop it and start from the first page.
	ErrCursorTampered = problem.Type{
		URI:    typeBase + "ErrCursorTampered",
		Title:  "Cursor signature does not verify",
		Status: http.StatusBadRequest,
	}
	// ErrCursorUnknownKey is the type of a cursor signed with a key that is
	// no longer configured, typically one retired by key rotation. The
	// client should start again from the first page.
	ErrCursorUnknownKey = problem.Type{
		URI:    typeBase + "ErrCursorUnknownKey",
		Title:  "Cursor signed with an unknown key",
		Status: http.StatusBadRequest,
	}
	// ErrCursorExpired is the type of a cursor older than the codec's TTL.
	// The client should start again from the first page.
	ErrCursorExpired = problem.Type{
		URI:    typeBase + "ErrCursorExpired",
		Title:  "Cursor expired",
		Status: http.StatusBadRequest,
	}
	// ErrCursorSortMismatch is the type of a cursor issued for another sort
	// order than the one of the request. Changing the sort needs a new first
	// page.
	ErrCursorSortMismatch = problem.Type{
		URI:    typeBase + "ErrCursorSortMismatch",
		Title:  "Cursor issued for another sort order",
		Status: http.StatusBadRequest,
	}
	// ErrCursorFilterMismatch is the type of a cursor issued for other filter
	// parameters than the ones of the request. Changing a filter needs a new
	// first page.
	ErrCursorFilterMismatch = problem.Type{
		URI:    typeBase + "ErrCursorFilterMismatch",
		Title:  "Cursor issued for other filter parameters",
		Status: http.StatusBadRequest,
	}
	// ErrCursorConflict is the type of a request that carries more than one
	// cursor: "cursor" together with "after" or "before", "after" together
	// with "before", a parameter repeated, or a cursor given to the parameter
	// of the other direction.
	ErrCursorConflict = problem.Type{
		URI:    typeBase + "ErrCursorConflict",
		Title:  "Conflicting cursor parameters",
		Status: http.StatusBadRequest,
	}
	// ErrLimitInvalid is the type of a limit that is not a positive decimal
	// integer written with digits only ("0", "-1", "+5", "1e3", "05", " 5",
	// or the parameter repeated). The extension member "max_limit" gives the
	// largest limit accepted.
	ErrLimitInvalid = problem.Type{
		URI:    typeBase + "ErrLimitInvalid",
		Title:  "Invalid limit",
		Status: http.StatusBadRequest,
	}
	// ErrLimitExceeded is the type of a limit above the maximum when the
	// paginator rejects such limits instead of clamping them
	// (Options.RejectOverMax). The extension member "max_limit" gives the
	// largest limit accepted.
	ErrLimitExceeded = problem.Type{
		URI:    typeBase + "ErrLimitExceeded",
		Title:  "Limit exceeds the maximum",
		Status: http.StatusBadRequest,
	}
)
