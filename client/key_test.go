package client

import (
	"crypto/rand"
	"net/http"
	"strconv"
	"testing"
)

// TestKeysDiffer checks that generated keys are quoted, of the expected
// length, and distinct.
func TestKeysDiffer(t *testing.T) {
	seen := make(map[[keyLen]byte]bool)
	for range 10000 {
		var k [keyLen]byte
		fillKey(&k)
		if k[0] != '"' || k[keyLen-1] != '"' || seen[k] {
			t.Fatalf("key %s repeated or malformed", k[:])
		}
		seen[k] = true
	}
}

// BenchmarkKeySource compares the pooled ChaCha8 generator fillKey uses
// with crypto/rand, the plain choice.
func BenchmarkKeySource(b *testing.B) {
	b.Run("chacha8-pool", func(b *testing.B) {
		var k [keyLen]byte
		for b.Loop() {
			fillKey(&k)
		}
	})
	b.Run("crypto-rand", func(b *testing.B) {
		var k [keyLen]byte
		var raw [16]byte
		for b.Loop() {
			_, _ = rand.Read(raw[:])
			keyEncoding.Encode(k[1:keyLen-1], raw[:])
		}
	})
}

// BenchmarkWithNewKey measures the copy a request that gets a key needs
// and a GET does not: the request, its header map with the key, and the
// key. It is the floor of what a keyed request costs over the bare
// transport; the rest of RoundTrip is what a GET costs.
func BenchmarkWithNewKey(b *testing.B) {
	for _, n := range []int{0, 3} {
		req, _ := http.NewRequest(http.MethodPost, "http://api.test/orders", nil)
		for i := range n {
			req.Header.Set("X-Header-"+strconv.Itoa(i), "value")
		}
		b.Run(strconv.Itoa(n)+"-fields", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				sinkRequest = withNewKey(req)
			}
		})
	}
}

// sinkRequest keeps a benchmark's result alive.
var sinkRequest *http.Request
