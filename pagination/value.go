package pagination

import (
	"database/sql/driver"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"reflect"
	"sync"
	"time"
)

// Value tags of the binary cursor payload. Each value is one tag byte
// followed by its data. The numbers are part of the wire format: never
// renumber them, only add new ones.
const (
	tagInt64   = 0x01 // zig-zag varint
	tagUint64  = 0x02 // uvarint
	tagFloat64 = 0x03 // 8 bytes, IEEE 754 bits, big endian
	tagString  = 0x04 // uvarint length, bytes
	tagBytes   = 0x05 // uvarint length, bytes
	tagFalse   = 0x06 // no data
	tagTrue    = 0x07 // no data
	tagTimeUTC = 0x08 // varint unix seconds, uvarint nanoseconds
	tagTime    = 0x09 // as tagTimeUTC, then varint UTC offset in seconds
	tagUUID    = 0x0a // 16 bytes
)

// maxValues bounds the number of values in a cursor. Sorts are validated
// against it too, so no cursor the package issues can exceed it.
const maxValues = 16

// maxOffset bounds the UTC offset of a decoded time: real zones stay within
// ±14 hours, Go accepts any int.
const maxOffset = 26 * 60 * 60

var (
	errNilValue         = errors.New("pagination: a cursor value is nil; sort keys must be NOT NULL")
	errUnsupportedValue = errors.New("pagination: unsupported cursor value type")
)

// appendValue appends the tagged encoding of v to b. See [Cursor] for the
// accepted types.
func appendValue(b []byte, v any) ([]byte, error) {
	if out, ok := appendBasic(b, v); ok {
		return out, nil
	}
	cv, err := canonical(v)
	if err != nil {
		return b, err
	}
	if out, ok := appendBasic(b, cv); ok {
		return out, nil
	}
	return b, fmt.Errorf("%w: %T", errUnsupportedValue, v)
}

// appendBasic appends the encoding of the types the wire format knows, and
// reports false for any other value. It does not recurse, so that b can stay
// on the caller's stack.
func appendBasic(b []byte, v any) ([]byte, bool) {
	switch v := v.(type) {
	case int64:
		return binary.AppendVarint(append(b, tagInt64), v), true
	case int:
		return binary.AppendVarint(append(b, tagInt64), int64(v)), true
	case int32:
		return binary.AppendVarint(append(b, tagInt64), int64(v)), true
	case int16:
		return binary.AppendVarint(append(b, tagInt64), int64(v)), true
	case int8:
		return binary.AppendVarint(append(b, tagInt64), int64(v)), true
	case uint64:
		return binary.AppendUvarint(append(b, tagUint64), v), true
	case uint:
		return binary.AppendUvarint(append(b, tagUint64), uint64(v)), true
	case uint32:
		return binary.AppendUvarint(append(b, tagUint64), uint64(v)), true
	case uint16:
		return binary.AppendUvarint(append(b, tagUint64), uint64(v)), true
	case uint8:
		return binary.AppendUvarint(append(b, tagUint64), uint64(v)), true
	case float64:
		return binary.BigEndian.AppendUint64(append(b, tagFloat64), math.Float64bits(v)), true
	case float32:
		return binary.BigEndian.AppendUint64(append(b, tagFloat64), math.Float64bits(float64(v))), true
	case string:
		b = binary.AppendUvarint(append(b, tagString), uint64(len(v)))
		return append(b, v...), true
	case []byte:
		if v == nil {
			return b, false // canonical reports it
		}
		b = binary.AppendUvarint(append(b, tagBytes), uint64(len(v)))
		return append(b, v...), true
	case bool:
		if v {
			return append(b, tagTrue), true
		}
		return append(b, tagFalse), true
	case time.Time:
		return appendTime(b, v), true
	case [16]byte:
		return append(append(b, tagUUID), v[:]...), true
	}
	return b, false
}

// canonical turns a value appendBasic does not know into one it knows:
// driver.Valuer results (google/uuid.UUID: its string), named types (type
// Status string, type Key [16]byte) and pointers. It rejects NULLs.
func canonical(v any) (any, error) {
	if v == nil {
		return nil, errNilValue
	}
	if vr, ok := v.(driver.Valuer); ok {
		if rv := reflect.ValueOf(v); rv.Kind() == reflect.Pointer && rv.IsNil() {
			return nil, errNilValue // most Value methods would panic
		}
		dv, err := vr.Value()
		if err != nil {
			return nil, fmt.Errorf("pagination: cursor value %T: %w", v, err)
		}
		if dv == nil {
			return nil, errNilValue
		}
		if _, again := dv.(driver.Valuer); again {
			return nil, fmt.Errorf("%w: %T", errUnsupportedValue, v)
		}
		return canonical(dv)
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return rv.Int(), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return rv.Uint(), nil
	case reflect.Float32, reflect.Float64:
		return rv.Float(), nil
	case reflect.String:
		return rv.String(), nil
	case reflect.Bool:
		return rv.Bool(), nil
	case reflect.Slice:
		if rv.Type().Elem().Kind() == reflect.Uint8 {
			if rv.IsNil() {
				return nil, errNilValue
			}
			return rv.Bytes(), nil
		}
	case reflect.Array:
		if rv.Len() == 16 && rv.Type().Elem().Kind() == reflect.Uint8 {
			var u [16]byte
			reflect.Copy(reflect.ValueOf(&u).Elem(), rv)
			return u, nil
		}
	case reflect.Pointer:
		if rv.IsNil() {
			return nil, errNilValue
		}
		return canonical(rv.Elem().Interface())
	case reflect.Struct:
		if t, ok := v.(time.Time); ok {
			return t, nil
		}
	}
	return v, nil // basic already, or unsupported: appendValue tells
}

func appendTime(b []byte, t time.Time) []byte {
	_, offset := t.Zone()
	if offset == 0 {
		b = append(b, tagTimeUTC)
	} else {
		b = append(b, tagTime)
	}
	b = binary.AppendVarint(b, t.Unix())
	b = binary.AppendUvarint(b, uint64(t.Nanosecond()))
	if offset != 0 {
		b = binary.AppendVarint(b, int64(offset))
	}
	return b
}

// errBadValue reports payload bytes that do not decode. It never reaches a
// client: Decode turns it into an ErrCursorMalformed problem.
var errBadValue = errors.New("bad value encoding")

// readValue decodes one tagged value from the front of b and returns it with
// the rest of b.
func readValue(b []byte) (any, []byte, error) {
	if len(b) == 0 {
		return nil, nil, errBadValue
	}
	tag, b := b[0], b[1:]
	switch tag {
	case tagInt64:
		v, n := binary.Varint(b)
		if n <= 0 {
			return nil, nil, errBadValue
		}
		return v, b[n:], nil
	case tagUint64:
		v, n := binary.Uvarint(b)
		if n <= 0 {
			return nil, nil, errBadValue
		}
		return v, b[n:], nil
	case tagFloat64:
		if len(b) < 8 {
			return nil, nil, errBadValue
		}
		return math.Float64frombits(binary.BigEndian.Uint64(b)), b[8:], nil
	case tagString, tagBytes:
		n, k := binary.Uvarint(b)
		if k <= 0 || n > uint64(len(b)-k) {
			return nil, nil, errBadValue
		}
		data := b[k : k+int(n)]
		rest := b[k+int(n):]
		if tag == tagString {
			return string(data), rest, nil
		}
		return append([]byte{}, data...), rest, nil
	case tagFalse:
		return false, b, nil
	case tagTrue:
		return true, b, nil
	case tagTimeUTC, tagTime:
		sec, n := binary.Varint(b)
		if n <= 0 {
			return nil, nil, errBadValue
		}
		b = b[n:]
		nsec, n := binary.Uvarint(b)
		if n <= 0 || nsec >= 1e9 {
			return nil, nil, errBadValue
		}
		b = b[n:]
		t := time.Unix(sec, int64(nsec))
		if tag == tagTimeUTC {
			return t.UTC(), b, nil
		}
		off, n := binary.Varint(b)
		if n <= 0 || off == 0 || off < -maxOffset || off > maxOffset {
			return nil, nil, errBadValue
		}
		return t.In(fixedZone(int(off))), b[n:], nil
	case tagUUID:
		if len(b) < 16 {
			return nil, nil, errBadValue
		}
		return [16]byte(b[:16]), b[16:], nil
	}
	return nil, nil, errBadValue
}

var zones sync.Map // int offset -> *time.Location

// fixedZone returns a shared unnamed location for a UTC offset in seconds,
// so decoding times does not allocate a Location each time.
func fixedZone(offset int) *time.Location {
	if loc, ok := zones.Load(offset); ok {
		return loc.(*time.Location)
	}
	loc, _ := zones.LoadOrStore(offset, time.FixedZone("", offset))
	return loc.(*time.Location)
}
