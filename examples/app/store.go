package app

import (
	"context"
	"errors"
	"time"
)

// User is a registered account. PasswordHash is the Argon2id PHC string.
type User struct {
	ID           int64
	Email        string
	Name         string
	PasswordHash string
}

// Owner identifies whose an order is: the (issuer, subject) pair of the
// caller's principal, so that a subject of one issuer never sees the
// orders of the same subject at another.
type Owner struct {
	Issuer  string
	Subject string
}

// Order is one order of an owner. CreatedAt has microsecond precision, as
// PostgreSQL keeps it, so every read returns the instant the creation did.
type Order struct {
	ID        int64
	Owner     Owner
	Item      string
	Quantity  int
	CreatedAt time.Time
}

// ErrEmailTaken is returned by [Users.Create] when the email (compared
// case-insensitively) is registered already.
var ErrEmailTaken = errors.New("app: email already registered")

// ErrNotFound is returned when a user or order does not exist, or is not
// the caller's.
var ErrNotFound = errors.New("app: not found")

// Users stores accounts.
type Users interface {
	// Create stores u and returns it with its ID set.
	Create(ctx context.Context, u User) (User, error)
	// ByEmail finds the user with email, compared case-insensitively.
	ByEmail(ctx context.Context, email string) (User, error)
	// SetPasswordHash replaces the password hash of user id, to upgrade it
	// after a login with the new hashing policy.
	SetPasswordHash(ctx context.Context, id int64, hash string) error
}

// Orders stores orders.
type Orders interface {
	// Create stores o (ID unset) and returns it with its ID set.
	Create(ctx context.Context, o Order) (Order, error)
	// Get returns the order id of owner, or ErrNotFound.
	Get(ctx context.Context, owner Owner, id int64) (Order, error)
	// List returns up to limit orders of owner after the position in q,
	// newest first (ties by id descending), or before it going backward.
	List(ctx context.Context, owner Owner, q ListQuery) ([]Order, error)
}

// ListQuery is a keyset position: the boundary row's (created_at, id),
// the direction, and how many rows to fetch.
type ListQuery struct {
	// HasCursor is false for the first page.
	HasCursor bool
	CreatedAt time.Time
	ID        int64
	// Backward travels towards newer orders (a "previous" page); rows
	// come back oldest first, as pagination.NewPage expects.
	Backward bool
	Limit    int
}

// Now returns the creation time of a new order: UTC, microseconds.
func Now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }
