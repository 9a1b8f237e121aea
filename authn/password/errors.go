package password

import (
	"errors"
	"net/http"

	"github.com/backstop-go/backstop/problem"
)

// ErrBusy is returned by [Hasher.Hash], [Hasher.Verify] and
// [Hasher.DummyVerify] when no hashing slot became free within
// Options.MaxWait, or when Options.MaxWaiting callers already wait. It is a
// problem type, so a [problem.HandlerFunc] that returns the error answers
// 503 with Retry-After: 1; test for it with errors.Is.
var ErrBusy = problem.Type{
	URI:    "https://pkg.go.dev/github.com/backstop-go/backstop/authn/password#ErrBusy",
	Title:  "Too many password checks in progress",
	Status: http.StatusServiceUnavailable,
}

// Errors about an encoded hash. Each error returned for a hash that cannot
// be used wraps ErrMalformedHash, so errors.Is(err, ErrMalformedHash) holds
// for all of them; the more specific sentinels say why.
var (
	// ErrMalformedHash: the string is not a PHC string this package can read.
	ErrMalformedHash = errors.New("password: malformed hash")
	// ErrUnsupportedVariant: the hash is not Argon2id (argon2i, argon2d,
	// bcrypt, ...).
	ErrUnsupportedVariant = errors.New("password: unsupported hash variant")
	// ErrUnsupportedVersion: the Argon2 version is not 19 (0x13).
	ErrUnsupportedVersion = errors.New("password: unsupported Argon2 version")
	// ErrParamsOutOfBounds: a parameter, salt or key length is outside the
	// PHC ranges or above the Hasher's maximums (Options.MaxMemory, MaxTime,
	// MaxThreads); the hash is refused before any memory is allocated for it.
	ErrParamsOutOfBounds = errors.New("password: hash parameters out of bounds")
	// ErrUnknownPepper: the hash names a pepper (keyid) that is not among
	// Options.Peppers.
	ErrUnknownPepper = errors.New("password: hash uses an unknown pepper")
)

// Errors about the password itself.
var (
	// ErrEmptyPassword is returned by Hash for an empty password.
	ErrEmptyPassword = errors.New("password: empty password")
	// ErrPasswordTooLong is returned by Hash, Verify and DummyVerify for a
	// password longer than Options.MaxPasswordBytes.
	ErrPasswordTooLong = errors.New("password: password too long")
)

// malformed wraps reason so that errors.Is finds both it and ErrMalformedHash.
type malformed struct{ reason error }

func (e malformed) Error() string { return e.reason.Error() }

func (e malformed) Is(target error) bool { return target == ErrMalformedHash }

func (e malformed) Unwrap() error { return e.reason }
