package client

import (
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
)

// TestHostTableKeepsStatePerHost checks that a host's state is found
// again, and that a new host starts with a full budget.
func TestHostTableKeepsStatePerHost(t *testing.T) {
	var tab hostTable
	a := tab.get("a.test", 7)
	if got := a.tokens.Load(); got != 7 {
		t.Fatalf("new host has %d tokens, want 7", got)
	}
	a.tokens.Store(3)
	if tab.get("a.test", 7) != a {
		t.Fatal("a.test got new state on its second lookup")
	}
	if b := tab.get("b.test", 7); b == a || b.tokens.Load() != 7 {
		t.Fatal("b.test shares a.test's state or starts without a full budget")
	}
}

// TestHostTableIsBounded checks that the table never keeps more than
// maxHosts hosts, and that the host just looked up is never the one
// dropped to make room.
func TestHostTableIsBounded(t *testing.T) {
	var tab hostTable
	for i := range 3 * maxHosts {
		name := "h" + strconv.Itoa(i) + ".test"
		h := tab.get(name, 1)
		if got, ok := tab.hosts.Load(name); !ok || got != h {
			t.Fatalf("%s was dropped as it was added", name)
		}
	}
	n := 0
	tab.hosts.Range(func(any, any) bool { n++; return true })
	if n > maxHosts || tab.n.Load() != int64(n) {
		t.Fatalf("table holds %d hosts and counts %d, want at most %d", n, tab.n.Load(), maxHosts)
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
		wg.Go(func() { got[i] = tab.get("new.test", 1) })
	}
	wg.Wait()
	for _, h := range got {
		if h != got[0] {
			t.Fatal("concurrent first lookups got different states")
		}
	}
}

// rwHostTable is the plain host table, a map behind an RWMutex: the
// baseline of BenchmarkHostTable.
type rwHostTable struct {
	mu    sync.RWMutex
	hosts map[string]*host
}

func (t *rwHostTable) get(name string, reserve int64) *host {
	t.mu.RLock()
	h := t.hosts[name]
	t.mu.RUnlock()
	if h != nil {
		return h
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if h = t.hosts[name]; h != nil {
		return h
	}
	if t.hosts == nil {
		t.hosts = make(map[string]*host)
	}
	if len(t.hosts) >= maxHosts {
		for k := range t.hosts {
			delete(t.hosts, k)
			break
		}
	}
	h = new(host)
	h.tokens.Store(reserve)
	t.hosts[name] = h
	return h
}

// BenchmarkHostTable measures the lookup every request makes, of one of a
// few known hosts, serially and from all cores, against the RWMutex
// baseline.
func BenchmarkHostTable(b *testing.B) {
	names := []string{"api.test", "auth.test:8443", "files.test", "10.0.0.7:9000"}
	var sm hostTable
	var rw rwHostTable
	tables := []struct {
		name string
		get  func(string, int64) *host
	}{
		{"rwmutex", rw.get},
		{"syncmap", sm.get},
	}
	for _, tab := range tables {
		for _, n := range names {
			tab.get(n, 1)
		}
		b.Run(tab.name+"/serial", func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				tab.get(names[i&3], 1)
				i++
			}
		})
		b.Run(tab.name+"/parallel", func(b *testing.B) {
			b.ReportAllocs()
			var seq atomic.Int64
			b.RunParallel(func(pb *testing.PB) {
				i := int(seq.Add(1))
				for pb.Next() {
					tab.get(names[i&3], 1)
					i++
				}
			})
		})
	}
}
