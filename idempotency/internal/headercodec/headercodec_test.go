package headercodec

import (
	"net/http"
	"reflect"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	for _, h := range []http.Header{
		nil,
		{"Content-Type": {"application/json"}},
		{"Link": {"<a>", "<b>"}, "Etag": {`"x"`}, "Empty": {""}},
		{"Content-Type": {}, "Date": {}, "Location": {"/orders/42"}}, // suppressed by the handler
		{"X-Binary": {"\x00\xff\n\r"}},
	} {
		enc := Encode(h)
		fromString, err := Decode(string(enc))
		if err != nil {
			t.Fatal(err)
		}
		fromBytes, err := Decode(enc)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(fromString, fromBytes) {
			t.Fatalf("string and bytes decode %v differently: %v, %v", h, fromString, fromBytes)
		}
		if len(h) == 0 && len(fromString) == 0 {
			continue
		}
		if !reflect.DeepEqual(fromString, h) {
			t.Fatalf("round trip of %#v = %#v", h, fromString)
		}
	}
}

func TestNilValuesComeBackEmpty(t *testing.T) {
	h, err := Decode(Encode(http.Header{"Date": nil}))
	if err != nil {
		t.Fatal(err)
	}
	if vs, ok := h["Date"]; !ok || vs == nil || len(vs) != 0 {
		t.Fatalf("Date = %#v (present %v), want an empty slice", vs, ok)
	}
}

func TestCorrupt(t *testing.T) {
	full := string(Encode(http.Header{"Link": {"<a>", "<b>"}}))
	for i := 2; i < len(full); i++ { // "\x01" alone is the empty header
		if _, err := Decode(full[:i]); err == nil {
			t.Errorf("truncated encoding %q decoded without error", full[:i])
		}
		if _, err := Decode([]byte(full[:i])); err == nil {
			t.Errorf("truncated encoding %q decoded from bytes without error", full[:i])
		}
	}
	for _, s := range []string{
		"\x02",               // unknown version
		"\x01\x01a\x05\x01x", // five values announced, one there
		"\x01\x01a\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", // count overflows
	} {
		if _, err := Decode(s); err == nil {
			t.Errorf("%q decoded", s)
		}
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(string(Encode(http.Header{"Link": {"<a>", "<b>"}})))
	f.Add(string(Encode(http.Header{"Content-Type": nil, "Location": {"/x"}})))
	f.Add("\x01\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01")
	f.Fuzz(func(t *testing.T, s string) {
		h, err := Decode(s)
		hb, errb := Decode([]byte(s))
		if (err == nil) != (errb == nil) || !reflect.DeepEqual(h, hb) {
			t.Fatalf("string and bytes disagree: %v %v / %v %v", h, err, hb, errb)
		}
		if err != nil {
			return
		}
		if again, err := Decode(Encode(h)); err != nil || (len(h) > 0 && !reflect.DeepEqual(again, h)) {
			t.Fatalf("re-encoding %v gave %v, %v", h, again, err)
		}
	})
}
