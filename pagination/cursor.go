package pagination

import (
	"fmt"
	"time"
)

// Direction is the way a page travels from its cursor.
type Direction uint8

const (
	// Forward pages hold the rows after the cursor, in sort order: the
	// "next" page. It is the zero value.
	Forward Direction = iota
	// Backward pages hold the rows before the cursor: the "previous" page.
	// Queries for them run in reverse sort order; [NewPage] restores the
	// canonical order.
	Backward
)

// String returns "forward" or "backward".
func (d Direction) String() string {
	switch d {
	case Forward:
		return "forward"
	case Backward:
		return "backward"
	}
	return fmt.Sprintf("Direction(%d)", uint8(d))
}

// Cursor is a keyset position: the sort-key values of a boundary row and the
// direction to travel from it.
//
// Values holds one value per key of the [Sort], in sort order, the last one
// being the unique tie-breaker. [Codec.Encode] accepts:
//
//   - signed integers (int, int8 … int64), decoded as int64, exact over the
//     whole range (snowflake ids above 2^53 included);
//   - unsigned integers (uint, uint8 … uint64), decoded as uint64;
//   - float32 and float64, decoded as float64 with the same bits;
//   - string, decoded as string, and []byte, decoded as []byte;
//   - bool;
//   - time.Time, decoded as the same instant to the nanosecond (Equal
//     reports true) with the same UTC offset: a zero offset decodes in
//     time.UTC, any other as an unnamed fixed zone. Zone names and the
//     monotonic clock reading are dropped;
//   - [16]byte, decoded as [16]byte: UUIDs;
//   - named types with one of these underlying types (type ID int64,
//     type Key [16]byte), decoded as the underlying type, pointers to
//     supported values, and database/sql/driver.Valuer implementations
//     (pgtype.Timestamptz, sql.NullInt64), encoded as the value they return.
//     The Valuer comes first: google/uuid.UUID and pgtype.UUID, whose Value
//     is the text form, decode as that string.
//
// nil, a nil pointer and a Valuer that returns nil are rejected: sort keys
// must be NOT NULL (see [Sort]). Decoded values can be passed straight to
// pgx as query arguments, and to database/sql except a [16]byte (pass
// v[:]) and a uint64 of 2^63 or more, which its default converter refuses.
type Cursor struct {
	// Direction is the way to travel from the position.
	Direction Direction
	// Values are the sort-key values of the boundary row.
	Values []any
	// IssuedAt is when the cursor was encoded, to the second. Decode sets
	// it; Encode ignores it and uses the codec's clock.
	IssuedAt time.Time
}
