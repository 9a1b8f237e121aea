package client

import (
	"strconv"
	"sync"
	"testing"
)

// TestHostTableKeepsStatePerHost checks that a host's state is found
// again, and that a new host starts with a full budget.
func TestHostTableKeepsStatePerHost(t *testing.T) {
	var tab hostTable
	a := tab.get(hostKey{name: "a.test"}, 7)
	if got := a.tokens.Load(); got != 7 {
		t.Fatalf("new host has %d tokens, want 7", got)
	}
	a.tokens.Store(3)
	if tab.get(hostKey{name: "a.test"}, 7) != a {
		t.Fatal("a.test got new state on its second lookup")
	}
	if b := tab.get(hostKey{name: "b.test"}, 7); b == a || b.tokens.Load() != 7 {
		t.Fatal("b.test shares a.test's state or starts without a full budget")
	}
}

// TestHostTableIsBounded checks that the table never keeps more than
// maxHosts hosts, and that the host just looked up is never the one
// dropped to make room.
func TestHostTableIsBounded(t *testing.T) {
	var tab hostTable
	for i := range 3 * maxHosts {
		name := hostKey{name: "h" + strconv.Itoa(i) + ".test"}
		h := tab.get(name, 1)
		if tab.hosts[name] != h {
			t.Fatalf("%s was dropped as it was added", name.name)
		}
		if n := len(tab.hosts); n > maxHosts {
			t.Fatalf("table holds %d hosts, want at most %d", n, maxHosts)
		}
	}
}

// TestHostTableConcurrentFirstLookups checks that goroutines that look up
// a new host at the same time all get the same state.
func TestHostTableConcurrentFirstLookups(t *testing.T) {
	var tab hostTable
	const g = 8
	got := make([]*host, g)
	var wg sync.WaitGroup
	for i := range g {
		wg.Go(func() { got[i] = tab.get(hostKey{name: "new.test"}, 1) })
	}
	wg.Wait()
	for _, h := range got {
		if h != got[0] {
			t.Fatal("concurrent first lookups got different states")
		}
	}
}
