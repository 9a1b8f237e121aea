package redisstore

import (
	"net/http"
	"reflect"
	"testing"
)

func TestHeaderEncoding(t *testing.T) {
	for _, h := range []http.Header{
		nil,
		{"Content-Type": {"application/json"}},
		{"Link": {"<a>", "<b>"}, "Etag": {`"x"`}, "Empty": {""}},
	} {
		got, err := decodeHeader(string(encodeHeader(h)))
		if err != nil {
			t.Fatal(err)
		}
		if len(h) == 0 && len(got) == 0 {
			continue
		}
		if !reflect.DeepEqual(got, h) {
			t.Fatalf("round trip of %v = %v", h, got)
		}
	}
	full := string(encodeHeader(http.Header{"Link": {"<a>", "<b>"}}))
	for i := 2; i < len(full); i++ { // "\x01" alone is the empty header
		if _, err := decodeHeader(full[:i]); err == nil {
			t.Errorf("truncated encoding %q decoded without error", full[:i])
		}
	}
	if _, err := decodeHeader("\x02"); err == nil {
		t.Error("unknown version decoded")
	}
}

func FuzzDecodeHeader(f *testing.F) {
	f.Add(string(encodeHeader(http.Header{"Link": {"<a>", "<b>"}})))
	f.Add("\x01\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01")
	f.Fuzz(func(t *testing.T, s string) {
		h, err := decodeHeader(s)
		if err != nil {
			return
		}
		if again, err := decodeHeader(string(encodeHeader(h))); err != nil || (len(h) > 0 && !reflect.DeepEqual(again, h)) {
			t.Fatalf("re-encoding %v gave %v, %v", h, again, err)
		}
	})
}
