package pagination_test

import (
	"bytes"
	"database/sql"
	"database/sql/driver"
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/backstop-go/backstop/internal/clocktest"
	"github.com/backstop-go/backstop/pagination"
	"github.com/backstop-go/backstop/problem"
)

var (
	key1 = bytes.Repeat([]byte{0x11}, 32)
	key2 = bytes.Repeat([]byte{0x22}, 32)
)

// newClock returns a manual clock for codecs under test.
func newClock() *clocktest.Clock {
	c := clocktest.New()
	c.Set(time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC))
	return c
}

func mustCodec(t testing.TB, secrets []pagination.Secret, opts pagination.CodecOptions) *pagination.Codec {
	t.Helper()
	c, err := pagination.NewCodec(secrets, opts)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

var byNewest = pagination.NewSort(
	pagination.Key{Column: "created_at", Desc: true},
	pagination.Key{Column: "id", Desc: true, Unique: true},
)

func oneKey() *pagination.Sort {
	return pagination.NewSort(pagination.Key{Column: "v", Unique: true})
}

// requireProblem fails unless err is a 400 problem of type want.
func requireProblem(t testing.TB, err error, want problem.Type) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %s", want.URI)
	}
	p, ok := problem.From(err)
	if !ok {
		t.Fatalf("error %v (%T) is not a problem", err, err)
	}
	if p.Status != http.StatusBadRequest {
		t.Fatalf("status %d, want 400", p.Status)
	}
	if !errors.Is(err, want) {
		t.Fatalf("got %s (%v), want %s", p.Type, err, want.URI)
	}
}

func TestNewCodecRejects(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		secrets []pagination.Secret
		opts    pagination.CodecOptions
	}{
		{"no secrets", nil, pagination.CodecOptions{}},
		{"missing key", []pagination.Secret{{ID: 1}}, pagination.CodecOptions{}},
		{"short key", []pagination.Secret{{ID: 1, Key: make([]byte, 31)}}, pagination.CodecOptions{}},
		{"short old key", []pagination.Secret{{ID: 1, Key: key1}, {ID: 2, Key: []byte("password")}}, pagination.CodecOptions{}},
		{"duplicate id", []pagination.Secret{{ID: 1, Key: key1}, {ID: 1, Key: key2}}, pagination.CodecOptions{}},
		{"negative ttl", []pagination.Secret{{ID: 1, Key: key1}}, pagination.CodecOptions{TTL: -time.Second}},
		{"tiny max length", []pagination.Secret{{ID: 1, Key: key1}}, pagination.CodecOptions{MaxLength: 10}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if c, err := pagination.NewCodec(tt.secrets, tt.opts); err == nil || c != nil {
				t.Fatalf("NewCodec = %v, %v; want an error", c, err)
			}
		})
	}
}

type (
	namedInt    int32
	namedString string
	namedUUID   [16]byte
	namedBytes  []byte
	// valuerUUID is shaped like google/uuid.UUID: a [16]byte whose Value
	// is the text form.
	valuerUUID [16]byte
)

func (u valuerUUID) Value() (driver.Value, error) { return fmt.Sprintf("%x", u[:]), nil }

func TestRoundTripValues(t *testing.T) {
	t.Parallel()
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		paris = time.FixedZone("CET", 3600)
	}
	big := int64(1)<<53 + 1
	withOffset := time.Date(2026, 3, 1, 10, 20, 30, 123456789, time.FixedZone("X", -(7*3600+30*60)))
	inParis := time.Date(2026, 7, 14, 22, 0, 0, 999999999, paris)
	_, parisOffset := inParis.Zone()
	uuid := [16]byte{0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}
	tests := []struct {
		name string
		in   any
		want any
	}{
		{"int64 above 2^53", big, big},
		{"int64 max", int64(math.MaxInt64), int64(math.MaxInt64)},
		{"int64 min", int64(math.MinInt64), int64(math.MinInt64)},
		{"int zero", 0, int64(0)},
		{"int8", int8(-128), int64(-128)},
		{"int16", int16(-300), int64(-300)},
		{"int32", int32(1 << 30), int64(1 << 30)},
		{"uint64 max", uint64(math.MaxUint64), uint64(math.MaxUint64)},
		{"uint", uint(7), uint64(7)},
		{"uint8", uint8(255), uint64(255)},
		{"uint16", uint16(65535), uint64(65535)},
		{"uint32", uint32(math.MaxUint32), uint64(math.MaxUint32)},
		{"float64", 0.1 + 0.2, 0.1 + 0.2},
		{"float64 smallest", math.SmallestNonzeroFloat64, math.SmallestNonzeroFloat64},
		{"float64 -inf", math.Inf(-1), math.Inf(-1)},
		{"float32", float32(1.5), 1.5},
		{"string", "héllo, 世界 🎉", "héllo, 世界 🎉"},
		{"empty string", "", ""},
		{"string with NUL", "a\x00b", "a\x00b"},
		{"bytes", []byte{0, 1, 0xff}, []byte{0, 1, 0xff}},
		{"empty bytes", []byte{}, []byte{}},
		{"true", true, true},
		{"false", false, false},
		{"time UTC ns", time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC), time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)},
		{"time before 1970", time.Date(1900, 1, 1, 0, 0, 0, 1, time.UTC), time.Date(1900, 1, 1, 0, 0, 0, 1, time.UTC)},
		{"zero time", time.Time{}, time.Time{}},
		{"time with offset", withOffset, withOffset.In(time.FixedZone("", -(7*3600 + 30*60)))},
		{"time in named zone", inParis, inParis.In(time.FixedZone("", parisOffset))},
		{"uuid", uuid, uuid},
		{"named int", namedInt(-5), int64(-5)},
		{"named string", namedString("open"), "open"},
		{"named uuid", namedUUID(uuid), uuid},
		{"named bytes", namedBytes{1, 2}, []byte{1, 2}},
		{"uuid Valuer (google/uuid)", valuerUUID(uuid), "deadbeef0102030405060708090a0b0c"},
		{"pointer", &big, big},
		{"driver.Valuer", sql.NullInt64{Int64: 42, Valid: true}, int64(42)},
		{"driver.Valuer time", sql.NullTime{Time: time.Unix(1, 5).UTC(), Valid: true}, time.Unix(1, 5).UTC()},
	}
	for _, encrypt := range []bool{false, true} {
		codec := mustCodec(t, []pagination.Secret{{ID: 1, Key: key1}}, pagination.CodecOptions{Encrypt: encrypt})
		for _, tt := range tests {
			name := tt.name
			if encrypt {
				name += "/sealed"
			}
			t.Run(name, func(t *testing.T) {
				s := oneKey()
				for _, dir := range []pagination.Direction{pagination.Forward, pagination.Backward} {
					tok, err := codec.Encode(s, pagination.Cursor{Direction: dir, Values: []any{tt.in}})
					if err != nil {
						t.Fatal(err)
					}
					got, err := codec.Decode(tok, s)
					if err != nil {
						t.Fatal(err)
					}
					if got.Direction != dir {
						t.Errorf("direction %v, want %v", got.Direction, dir)
					}
					v := got.Values[0]
					if reflect.TypeOf(v) != reflect.TypeOf(tt.want) {
						t.Fatalf("decoded %T, want %T", v, tt.want)
					}
					switch want := tt.want.(type) {
					case time.Time:
						gt := v.(time.Time)
						_, gotOff := gt.Zone()
						_, wantOff := want.Zone()
						if !gt.Equal(want) || gotOff != wantOff || gt.Nanosecond() != want.Nanosecond() {
							t.Fatalf("decoded %v, want %v", gt, want)
						}
						if wantOff == 0 && gt.Location() != time.UTC {
							t.Fatalf("decoded location %v, want UTC", gt.Location())
						}
					case float64:
						if math.Float64bits(v.(float64)) != math.Float64bits(want) {
							t.Fatalf("decoded %v, want %v", v, want)
						}
					default:
						if !reflect.DeepEqual(v, tt.want) {
							t.Fatalf("decoded %#v, want %#v", v, tt.want)
						}
					}
				}
			})
		}
	}
}

func TestRoundTripNaNAndMonotonic(t *testing.T) {
	t.Parallel()
	codec := mustCodec(t, []pagination.Secret{{ID: 1, Key: key1}}, pagination.CodecOptions{})
	s := pagination.NewSort(pagination.Key{Column: "f"}, pagination.Key{Column: "t"}, pagination.Key{Column: "id", Unique: true})
	now := time.Now() // carries a monotonic reading
	nan := math.Float64frombits(0x7ff8000000000abc)
	tok, err := codec.Encode(s, pagination.Cursor{Values: []any{nan, now, "x"}})
	if err != nil {
		t.Fatal(err)
	}
	got, err := codec.Decode(tok, s)
	if err != nil {
		t.Fatal(err)
	}
	if bits := math.Float64bits(got.Values[0].(float64)); bits != 0x7ff8000000000abc {
		t.Errorf("NaN bits %x", bits)
	}
	if gt := got.Values[1].(time.Time); !gt.Equal(now) || gt != gt.Round(0) {
		t.Errorf("time %v, want %v without monotonic reading", gt, now)
	}
}

func TestEncodeRejects(t *testing.T) {
	t.Parallel()
	codec := mustCodec(t, []pagination.Secret{{ID: 1, Key: key1}}, pagination.CodecOptions{})
	var nilPtr *int64
	var nilBytes []byte
	tests := []struct {
		name   string
		values []any
	}{
		{"nil", []any{nil}},
		{"nil pointer", []any{nilPtr}},
		{"nil bytes", []any{nilBytes}},
		{"null Valuer", []any{sql.NullInt64{}}},
		{"struct", []any{struct{}{}}},
		{"map", []any{map[string]int{}}},
		{"slice of ints", []any{[]int{1}}},
		{"no values", nil},
		{"too many values", []any{1, 2}},
		{"too long", []any{strings.Repeat("x", 1024)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tok, err := codec.Encode(oneKey(), pagination.Cursor{Values: tt.values}); err == nil {
				t.Fatalf("Encode = %q, want an error", tok)
			}
		})
	}
	if _, err := codec.Encode(oneKey(), pagination.Cursor{Direction: 7, Values: []any{1}}); err == nil {
		t.Error("Encode accepted an invalid direction")
	}
}

func TestCursorShape(t *testing.T) {
	t.Parallel()
	for _, encrypt := range []bool{false, true} {
		codec := mustCodec(t, []pagination.Secret{{ID: 1, Key: key1}}, pagination.CodecOptions{Encrypt: encrypt})
		tok, err := codec.Encode(byNewest, pagination.Cursor{Values: []any{time.Now(), int64(1) << 62}})
		if err != nil {
			t.Fatal(err)
		}
		if strings.ContainsAny(tok, "+/=") || len(tok) > 100 {
			t.Errorf("encrypt=%v: cursor %q is not compact unpadded base64url", encrypt, tok)
		}
		t.Logf("encrypt=%v: %d characters", encrypt, len(tok))
	}
}

func TestSealedCursorHidesValues(t *testing.T) {
	t.Parallel()
	secret := "salary-1234567-of-alice@example.com"
	for _, encrypt := range []bool{false, true} {
		codec := mustCodec(t, []pagination.Secret{{ID: 1, Key: key1}}, pagination.CodecOptions{Encrypt: encrypt})
		tok, err := codec.Encode(oneKey(), pagination.Cursor{Values: []any{secret}})
		if err != nil {
			t.Fatal(err)
		}
		raw, err := base64.RawURLEncoding.DecodeString(tok)
		if err != nil {
			t.Fatal(err)
		}
		if got := bytes.Contains(raw, []byte(secret)); got == encrypt {
			t.Errorf("encrypt=%v: value readable = %v", encrypt, got)
		}
	}
}

func TestDecodeAcceptsBothModes(t *testing.T) {
	t.Parallel()
	signer := mustCodec(t, []pagination.Secret{{ID: 1, Key: key1}}, pagination.CodecOptions{})
	sealer := mustCodec(t, []pagination.Secret{{ID: 1, Key: key1}}, pagination.CodecOptions{Encrypt: true})
	for _, from := range []*pagination.Codec{signer, sealer} {
		tok, err := from.Encode(oneKey(), pagination.Cursor{Values: []any{1}})
		if err != nil {
			t.Fatal(err)
		}
		for _, to := range []*pagination.Codec{signer, sealer} {
			if _, err := to.Decode(tok, oneKey()); err != nil {
				t.Error(err)
			}
		}
	}
}

// TestTamperEveryByte changes every character of cursors to every other
// base64url character, flips every bit of the decoded bytes, truncates and
// extends them: all must be rejected with a 400 problem.
//
// The cursors are fixed and their lengths cover the three remainders mod 3,
// so that every kind of base64 tail is tampered with on every run: the last
// character of a cursor of 3n+1 or 3n+2 bytes has unused bits, whose
// changes only a strict decoder refuses.
func TestTamperEveryByte(t *testing.T) {
	t.Parallel()
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	at := time.Date(2026, 11, 24, 9, 30, 0, 123456000, time.UTC)
	remainders := map[int]bool{}
	for _, tt := range []struct {
		encrypt bool
		id      int64 // 1, 2 or 3 varint bytes
	}{{false, 42}, {false, 100}, {false, 10000}, {true, 42}, {true, 100}, {true, 10000}} {
		encrypt := tt.encrypt
		codec := mustCodec(t, []pagination.Secret{{ID: 1, Key: key1}}, pagination.CodecOptions{Encrypt: encrypt})
		tok, err := codec.Encode(byNewest, pagination.Cursor{Values: []any{at, tt.id}})
		if err != nil {
			t.Fatal(err)
		}
		remainders[base64.RawURLEncoding.DecodedLen(len(tok))%3] = true
		reject := func(what, bad string) {
			t.Helper()
			if bad == tok {
				return
			}
			c, err := codec.Decode(bad, byNewest)
			if err == nil {
				t.Fatalf("encrypt=%v %s: %q accepted as %+v", encrypt, what, bad, c)
			}
			if p, ok := problem.From(err); !ok || p.Status != http.StatusBadRequest {
				t.Fatalf("encrypt=%v %s: error %v is not a 400 problem", encrypt, what, err)
			}
		}
		for i := range len(tok) {
			for _, ch := range alphabet {
				reject("substitute", tok[:i]+string(ch)+tok[i+1:])
			}
			reject("truncate", tok[:i])
			reject("delete", tok[:i]+tok[i+1:])
			reject("insert newline", tok[:i]+"\n"+tok[i:])
			reject("insert", tok[:i]+"A"+tok[i:])
		}
		reject("append", tok+"A")
		reject("append pair", tok+"AA")
		raw, _ := base64.RawURLEncoding.DecodeString(tok)
		for i := range raw {
			for bit := range 8 {
				flipped := bytes.Clone(raw)
				flipped[i] ^= 1 << bit
				reject("flip", base64.RawURLEncoding.EncodeToString(flipped))
			}
		}
		if _, err := codec.Decode(tok, byNewest); err != nil {
			t.Fatalf("the untouched cursor: %v", err)
		}
	}
	if len(remainders) != 3 {
		t.Fatalf("cursor lengths mod 3 cover %v, want 0, 1 and 2", remainders)
	}
}

func TestDecodeMalformed(t *testing.T) {
	t.Parallel()
	codec := mustCodec(t, []pagination.Secret{{ID: 1, Key: key1}}, pagination.CodecOptions{})
	good, err := codec.Encode(oneKey(), pagination.Cursor{Values: []any{1}})
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := base64.RawURLEncoding.DecodeString(good)
	version2 := bytes.Clone(raw)
	version2[0] = 2
	mode9 := bytes.Clone(raw)
	mode9[2] = 9
	enc := base64.RawURLEncoding.EncodeToString
	tests := []struct {
		name  string
		token string
		want  problem.Type
	}{
		{"empty", "", pagination.ErrCursorMalformed},
		{"not base64", "!!!!", pagination.ErrCursorMalformed},
		{"std alphabet", strings.NewReplacer("-", "+", "_", "/").Replace(good) + "+/", pagination.ErrCursorMalformed},
		{"padded", good + "==", pagination.ErrCursorMalformed},
		{"too long", strings.Repeat("A", 1025), pagination.ErrCursorMalformed},
		{"one byte", "AQ", pagination.ErrCursorMalformed},
		{"header only", enc(raw[:3]), pagination.ErrCursorMalformed},
		{"no tag", enc(raw[:len(raw)-16]), pagination.ErrCursorMalformed},
		{"tag cut short", enc(raw[:len(raw)-1]), pagination.ErrCursorTampered},
		{"short", enc(raw[:20]), pagination.ErrCursorMalformed},
		{"version 2", enc(version2), pagination.ErrCursorMalformed},
		{"unknown mode", enc(mode9), pagination.ErrCursorMalformed},
		{"json", enc([]byte(`{"id":1}`)), pagination.ErrCursorMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := codec.Decode(tt.token, oneKey())
			requireProblem(t, err, tt.want)
			if p, _ := problem.From(err); strings.Contains(p.Detail, tt.token) && tt.token != "" {
				t.Errorf("detail %q echoes the cursor", p.Detail)
			}
		})
	}
}

func TestExpiry(t *testing.T) {
	t.Parallel()
	for _, encrypt := range []bool{false, true} {
		clock := newClock()
		codec := mustCodec(t, []pagination.Secret{{ID: 1, Key: key1}},
			pagination.CodecOptions{TTL: time.Hour, Now: clock.Now, Encrypt: encrypt})
		tok, err := codec.Encode(oneKey(), pagination.Cursor{Values: []any{1}})
		if err != nil {
			t.Fatal(err)
		}
		c, err := codec.Decode(tok, oneKey())
		if err != nil {
			t.Fatal(err)
		}
		if !c.IssuedAt.Equal(clock.Now()) {
			t.Errorf("IssuedAt %v, want %v", c.IssuedAt, clock.Now())
		}
		clock.Advance(time.Hour)
		if _, err := codec.Decode(tok, oneKey()); err != nil {
			t.Fatalf("at exactly the TTL: %v", err)
		}
		clock.Advance(time.Second)
		_, err = codec.Decode(tok, oneKey())
		requireProblem(t, err, pagination.ErrCursorExpired)

		// A codec without TTL accepts it forever.
		forever := mustCodec(t, []pagination.Secret{{ID: 1, Key: key1}}, pagination.CodecOptions{Now: clock.Now})
		clock.Advance(100 * 365 * 24 * time.Hour)
		if _, err := forever.Decode(tok, oneKey()); err != nil {
			t.Fatal(err)
		}
	}
}

func TestKeyRotation(t *testing.T) {
	t.Parallel()
	old := mustCodec(t, []pagination.Secret{{ID: 1, Key: key1}}, pagination.CodecOptions{})
	both := mustCodec(t, []pagination.Secret{{ID: 2, Key: key2}, {ID: 1, Key: key1}}, pagination.CodecOptions{})
	retired := mustCodec(t, []pagination.Secret{{ID: 2, Key: key2}}, pagination.CodecOptions{})
	reused := mustCodec(t, []pagination.Secret{{ID: 1, Key: key2}}, pagination.CodecOptions{})
	s := oneKey()

	oldTok, err := old.Encode(s, pagination.Cursor{Values: []any{1}})
	if err != nil {
		t.Fatal(err)
	}
	newTok, err := both.Encode(s, pagination.Cursor{Values: []any{2}})
	if err != nil {
		t.Fatal(err)
	}
	// Step 1: the new key signs, the old one still verifies.
	if c, err := both.Decode(oldTok, s); err != nil || c.Values[0] != int64(1) {
		t.Fatalf("old cursor under both keys: %v, %v", c, err)
	}
	if c, err := retired.Decode(newTok, s); err != nil || c.Values[0] != int64(2) {
		t.Fatalf("new cursor under the new key: %v, %v", c, err)
	}
	// Instances not yet deployed do not know the new key id.
	_, err = old.Decode(newTok, s)
	requireProblem(t, err, pagination.ErrCursorUnknownKey)
	// Step 2: the old key is gone.
	_, err = retired.Decode(oldTok, s)
	requireProblem(t, err, pagination.ErrCursorUnknownKey)
	// The same id with another key is a forgery.
	_, err = reused.Decode(oldTok, s)
	requireProblem(t, err, pagination.ErrCursorTampered)
}

func TestSortAndFilterMismatch(t *testing.T) {
	t.Parallel()
	for _, encrypt := range []bool{false, true} {
		codec := mustCodec(t, []pagination.Secret{{ID: 1, Key: key1}}, pagination.CodecOptions{Encrypt: encrypt})
		asc := pagination.NewSort(pagination.Key{Column: "created_at"}, pagination.Key{Column: "id", Unique: true})
		renamed := pagination.NewSort(pagination.Key{Column: "created_at", Desc: true}, pagination.Key{Column: "item_id", Desc: true, Unique: true})
		longer := pagination.NewSort(pagination.Key{Column: "created_at", Desc: true}, pagination.Key{Column: "title", Desc: true}, pagination.Key{Column: "id", Desc: true, Unique: true})
		cur := pagination.Cursor{Values: []any{time.Unix(1, 0), int64(7)}}
		tok, err := codec.Encode(byNewest, cur, "status=open", "tenant=1")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := codec.Decode(tok, byNewest, "status=open", "tenant=1"); err != nil {
			t.Fatal(err)
		}
		// The same spelling in a new Sort value is the same sort.
		same := pagination.NewSort(byNewest.Keys()...)
		if _, err := codec.Decode(tok, same, "status=open", "tenant=1"); err != nil {
			t.Fatal(err)
		}
		for name, s := range map[string]*pagination.Sort{"direction": asc, "column": renamed, "keys": longer} {
			_, err := codec.Decode(tok, s, "status=open", "tenant=1")
			if !errors.Is(err, pagination.ErrCursorSortMismatch) {
				t.Errorf("%s: %v, want sort mismatch", name, err)
			}
		}
		for name, f := range map[string][]string{
			"none":      nil,
			"changed":   {"status=closed", "tenant=1"},
			"reordered": {"tenant=1", "status=open"},
			"joined":    {"status=opentenant=1"},
			"split":     {"status=open", "tenant=", "1"},
			"extra":     {"status=open", "tenant=1", ""},
		} {
			_, err := codec.Decode(tok, byNewest, f...)
			requireProblem(t, err, pagination.ErrCursorFilterMismatch)
			_ = name
		}
	}
}

func TestDirectionString(t *testing.T) {
	t.Parallel()
	for d, want := range map[pagination.Direction]string{
		pagination.Forward: "forward", pagination.Backward: "backward", 9: "Direction(9)",
	} {
		if got := d.String(); got != want {
			t.Errorf("%d: %q, want %q", d, got, want)
		}
	}
}

// TestExpiryNeverEarly issues cursors in the middle of a second: issue times
// are kept to the second, which must not shorten a cursor's life below the
// TTL (nor make a sub-second TTL expire cursors as they are issued).
func TestExpiryNeverEarly(t *testing.T) {
	t.Parallel()
	for _, ttl := range []time.Duration{500 * time.Millisecond, time.Second, time.Hour} {
		clock := newClock()
		clock.Advance(900 * time.Millisecond)
		codec := mustCodec(t, []pagination.Secret{{ID: 1, Key: key1}}, pagination.CodecOptions{TTL: ttl, Now: clock.Now})
		tok, err := codec.Encode(oneKey(), pagination.Cursor{Values: []any{1}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := codec.Decode(tok, oneKey()); err != nil {
			t.Fatalf("ttl %v, just issued: %v", ttl, err)
		}
		clock.Advance(ttl - time.Millisecond)
		if _, err := codec.Decode(tok, oneKey()); err != nil {
			t.Fatalf("ttl %v, 1ms before the TTL: %v", ttl, err)
		}
		clock.Advance(time.Second + time.Millisecond) // at most a second late
		_, err = codec.Decode(tok, oneKey())
		requireProblem(t, err, pagination.ErrCursorExpired)
	}
}
