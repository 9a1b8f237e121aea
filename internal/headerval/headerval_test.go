package headerval

import (
	"strings"
	"testing"
)

// Values carved from one chunk, and from a chunk put back and taken again,
// are independent: rewriting or appending to one leaves every other as it
// was, and bytes passed to Bytes may be reused by the caller at once.
func TestValuesAreIndependent(t *testing.T) {
	var vals [][]string
	var want []string
	buf := []byte("value-xx")
	for i := range 300 { // several []string and []byte allocations
		c := Get()
		buf[6], buf[7] = byte('a'+i%26), byte('a'+i/26)
		vals = append(vals, c.Bytes(buf), c.Value("const"))
		want = append(want, string(buf), "const")
		Put(c)
	}
	long := Get().Bytes([]byte(strings.Repeat("x", maxCarved+1)))
	for i, v := range vals {
		if len(v) != 1 || cap(v) != 1 || v[0] != want[i] {
			t.Fatalf("value %d = %q (cap %d), want [%q]", i, v, cap(v), want[i])
		}
	}
	for i, v := range vals {
		v[0] = "rewritten"
		_ = append(v, "appended")
		for j, w := range vals {
			if j != i && w[0] != want[j] {
				t.Fatalf("rewriting value %d changed value %d to %q", i, j, w[0])
			}
		}
		v[0] = want[i]
	}
	if len(long[0]) != maxCarved+1 {
		t.Errorf("long value %d bytes", len(long[0]))
	}
}

// Carving allocates only when a chunk's arrays run out.
func TestCarvingIsAmortised(t *testing.T) {
	b := []byte(`"burst";r=9;t=1`)
	n := testing.AllocsPerRun(1000, func() {
		c := Get()
		_ = c.Value("const")
		_ = c.Bytes(b)
		Put(c)
	})
	if n > 0 {
		t.Errorf("%v allocations per pair of values, want 0 (amortised)", n)
	}
}
