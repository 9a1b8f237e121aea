// Package password hashes and verifies passwords with Argon2id, safely by
// default.
//
//	h, err := password.New(password.Options{}) // OWASP: m=19456 KiB, t=2, p=1
//
//	hash, err := h.Hash(ctx, []byte(pw))            // store this PHC string
//	ok, rehash, err := h.Verify(ctx, []byte(pw), hash)
//	if ok && rehash {
//		newHash, err := h.Hash(ctx, []byte(pw)) // parameters or pepper changed
//		...
//	}
//
// Hashes are PHC strings ($argon2id$v=19$m=…,t=…,p=…$salt$key, unpadded
// standard base64) with a 16-byte random salt and a 32-byte key, readable by
// the reference argon2 implementation and every PHC library, and this
// package verifies theirs. Creating hashes below the OWASP floor needs
// Options.AllowWeak.
//
// What golang.org/x/crypto/argon2 and the common wrappers leave to you:
//
//   - Stored hashes are untrusted input. They are parsed strictly and every
//     parameter is bounded (PHC ranges, and Options.MaxMemory, MaxTime,
//     MaxThreads) before anything is allocated: a corrupted or planted hash
//     is an error wrapping ErrMalformedHash, never a panic (x/crypto panics
//     on t=0 or p=0) or a multi-gigabyte allocation.
//   - Hashing is bounded: at most Options.Concurrency hashes run at once
//     in the whole Hasher, so a login flood queues instead of allocating
//     m KiB per request until the process dies. Waiting callers give up
//     when their context ends or after Options.MaxWait, with ErrBusy (a
//     503 problem type); a hash that has started finishes and keeps its
//     slot until then, since its memory is in use.
//   - Verify reports whether the hash should be upgraded (needsRehash),
//     so raising the parameters or rotating a pepper upgrades hashes as
//     users log in.
//   - Peppers: an optional secret key, kept outside the database, mixed in
//     with HMAC-SHA256 and named in the hash's keyid parameter so it can
//     rotate. (A peppered hash verifies only where the pepper is known; the
//     keyid names this package's HMAC pepper, not Argon2's own secret
//     input, which x/crypto does not offer.)
//   - [Hasher.DummyVerify] spends the time of a real verification for
//     logins that name an unknown user, so response times do not reveal
//     which accounts exist.
//   - Passwords are capped (Options.MaxPasswordBytes, 1 KiB by default)
//     and taken as []byte so callers can wipe them; the comparison takes
//     constant time and derived keys are cleared after use.
//
// # Errors
//
// ErrBusy is a [problem.Type] (503, Retry-After: 1): return it from a
// problem.HandlerFunc as it is. The other errors are sentinels for
// errors.Is: ErrMalformedHash (with ErrUnsupportedVariant,
// ErrUnsupportedVersion and ErrParamsOutOfBounds for the reason),
// ErrUnknownPepper, ErrEmptyPassword and ErrPasswordTooLong. A wrong
// password is not an error: Verify returns false.
//
// The package imports golang.org/x/crypto/argon2 and problem only; it does
// not compile the JWT code of its parent package authn.
package password
