package password

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// fast are parameters below the OWASP floor that keep tests quick.
var fast = Options{Memory: 64, Time: 1, Threads: 1, AllowWeak: true}

func mustNew(t testing.TB, o Options) *Hasher {
	t.Helper()
	h, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestDefaultsAreOWASPRecommendation(t *testing.T) {
	h := mustNew(t, Options{})
	s, err := h.Hash(context.Background(), []byte("correct horse"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(s, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("hash %q does not use OWASP's m=19456,t=2,p=1", s)
	}
	var p params
	if err := parse(s, h.max, &p); err != nil {
		t.Fatal(err)
	}
	if p.saltLen != 16 || p.keyLen != 32 {
		t.Fatalf("salt %d and key %d bytes, want 16 and 32", p.saltLen, p.keyLen)
	}
	ok, rehash, err := h.Verify(context.Background(), []byte("correct horse"), s)
	if !ok || rehash || err != nil {
		t.Fatalf("Verify = %v, %v, %v; want true, false, nil", ok, rehash, err)
	}
}

func TestSaltIsRandom(t *testing.T) {
	h := mustNew(t, fast)
	a, _ := h.Hash(context.Background(), []byte("pw"))
	b, _ := h.Hash(context.Background(), []byte("pw"))
	if a == b {
		t.Fatal("two hashes of one password are equal")
	}
}

func TestBelowOWASPFloorNeedsAllowWeak(t *testing.T) {
	for _, o := range []Options{
		{Memory: 19455},
		{Memory: 47103, Time: 1},
		{Memory: 7168, Time: 4},
		{SaltLength: 8},
		{KeyLength: 12},
	} {
		if _, err := New(o); err == nil {
			t.Errorf("New(%+v) accepted parameters below the OWASP floor", o)
		}
		o.AllowWeak = true
		if _, err := New(o); err != nil {
			t.Errorf("New(%+v) with AllowWeak: %v", o, err)
		}
	}
	for _, o := range []Options{{Memory: 47104, Time: 1}, {Memory: 12288, Time: 3}, {Memory: 7168, Time: 5}, {Memory: 65536, Time: 3, Threads: 4}} {
		if _, err := New(o); err != nil {
			t.Errorf("New(%+v) refused an OWASP configuration: %v", o, err)
		}
	}
}

func TestNewRejectsImpossibleOptions(t *testing.T) {
	for _, o := range []Options{
		{Memory: 7, AllowWeak: true},
		{Memory: 64, Threads: 9, AllowWeak: true},
		{SaltLength: 7, AllowWeak: true},
		{SaltLength: 49},
		{KeyLength: 65},
		{MaxMemory: 1024},
		{MaxTime: 1},
		{Threads: 4, MaxThreads: 2, Memory: 65536},
		{Concurrency: -1},
		{MaxWait: -1},
		{MaxPasswordBytes: -1},
		{Peppers: []Pepper{{ID: "", Key: make([]byte, 32)}}},
		{Peppers: []Pepper{{ID: "123456789", Key: make([]byte, 32)}}},
		{Peppers: []Pepper{{ID: "a", Key: make([]byte, 31)}}},
		{Peppers: []Pepper{{ID: "a", Key: make([]byte, 32)}, {ID: "a", Key: make([]byte, 32)}}},
	} {
		if _, err := New(o); err == nil {
			t.Errorf("New(%+v) succeeded", o)
		}
	}
}

func TestVerifyRejectsWrongPassword(t *testing.T) {
	h := mustNew(t, fast)
	s, _ := h.Hash(context.Background(), []byte("secret"))
	for _, pw := range []string{"Secret", "secret ", "secre", ""} {
		ok, rehash, err := h.Verify(context.Background(), []byte(pw), s)
		if ok || rehash || err != nil {
			t.Errorf("Verify(%q) = %v, %v, %v; want false, false, nil", pw, ok, rehash, err)
		}
	}
}

func TestVerifyReportsRehashWhenPolicyChanged(t *testing.T) {
	old := mustNew(t, fast)
	s, _ := old.Hash(context.Background(), []byte("pw"))
	for _, o := range []Options{
		{Memory: 128, Time: 1, AllowWeak: true},
		{Memory: 64, Time: 2, AllowWeak: true},
		{Memory: 64, Time: 1, Threads: 2, AllowWeak: true},
		{Memory: 64, Time: 1, KeyLength: 16, AllowWeak: true},
		{Memory: 64, Time: 1, SaltLength: 32, AllowWeak: true},
	} {
		ok, rehash, err := mustNew(t, o).Verify(context.Background(), []byte("pw"), s)
		if !ok || !rehash || err != nil {
			t.Errorf("%+v: Verify = %v, %v, %v; want true, true, nil", o, ok, rehash, err)
		}
	}
	ok, rehash, _ := old.Verify(context.Background(), []byte("pw"), s)
	if !ok || rehash {
		t.Errorf("same policy: Verify = %v, %v; want true, false", ok, rehash)
	}
}

func TestPepperIsVersionedAndRotates(t *testing.T) {
	k1 := []byte(strings.Repeat("1", 32))
	k2 := []byte(strings.Repeat("2", 32))
	ctx := context.Background()
	o := fast
	o.Peppers = []Pepper{{ID: "v1", Key: k1}}
	h1 := mustNew(t, o)
	s, _ := h1.Hash(ctx, []byte("pw"))
	if !strings.Contains(s, ",keyid=djE$") {
		t.Fatalf("hash %q does not name pepper v1", s)
	}
	plain := mustNew(t, fast)
	if _, _, err := plain.Verify(ctx, []byte("pw"), s); !errors.Is(err, ErrUnknownPepper) {
		t.Fatalf("Verify without the pepper: %v, want ErrUnknownPepper", err)
	}

	o.Peppers = []Pepper{{ID: "v2", Key: k2}, {ID: "v1", Key: k1}}
	h2 := mustNew(t, o)
	ok, rehash, err := h2.Verify(ctx, []byte("pw"), s)
	if !ok || !rehash || err != nil {
		t.Fatalf("after rotation: Verify = %v, %v, %v; want true, true, nil", ok, rehash, err)
	}
	s2, _ := h2.Hash(ctx, []byte("pw"))
	if ok, rehash, _ := h2.Verify(ctx, []byte("pw"), s2); !ok || rehash {
		t.Fatalf("rehashed: Verify = %v, %v; want true, false", ok, rehash)
	}

	// A pepper with the same ID but another key: the hash does not match.
	o.Peppers = []Pepper{{ID: "v1", Key: k2}}
	if ok, _, _ := mustNew(t, o).Verify(ctx, []byte("pw"), s); ok {
		t.Fatal("a hash matched under the wrong pepper key")
	}

	// An unpeppered hash still verifies once peppers are on, and needs a rehash.
	u, _ := plain.Hash(ctx, []byte("pw"))
	if ok, rehash, _ := h2.Verify(ctx, []byte("pw"), u); !ok || !rehash {
		t.Fatalf("unpeppered: Verify = %v, %v; want true, true", ok, rehash)
	}
}

func TestPepperKeyIsCopied(t *testing.T) {
	key := []byte(strings.Repeat("k", 32))
	o := fast
	o.Peppers = []Pepper{{ID: "a", Key: key}}
	h := mustNew(t, o)
	s, _ := h.Hash(context.Background(), []byte("pw"))
	key[0] = 'x'
	if ok, _, _ := h.Verify(context.Background(), []byte("pw"), s); !ok {
		t.Fatal("changing the caller's key slice changed the Hasher's pepper")
	}
}

func TestPasswordLengthIsCapped(t *testing.T) {
	o := fast
	o.MaxPasswordBytes = 8
	h := mustNew(t, o)
	ctx := context.Background()
	if _, err := h.Hash(ctx, nil); !errors.Is(err, ErrEmptyPassword) {
		t.Errorf("Hash(empty) = %v, want ErrEmptyPassword", err)
	}
	long := []byte("123456789")
	if _, err := h.Hash(ctx, long); !errors.Is(err, ErrPasswordTooLong) {
		t.Errorf("Hash(9 bytes) = %v, want ErrPasswordTooLong", err)
	}
	s, err := h.Hash(ctx, long[:8])
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := h.Verify(ctx, long, s); !errors.Is(err, ErrPasswordTooLong) {
		t.Errorf("Verify(9 bytes) = %v, want ErrPasswordTooLong", err)
	}
	if err := h.DummyVerify(ctx, long); !errors.Is(err, ErrPasswordTooLong) {
		t.Errorf("DummyVerify(9 bytes) = %v, want ErrPasswordTooLong", err)
	}
	if mustNew(t, Options{}).maxPassword != 1024 {
		t.Error("default MaxPasswordBytes is not 1024")
	}
}

func TestDummyVerifyDoesTheWorkOfAVerify(t *testing.T) {
	o := Options{Memory: 256, Time: 3, Threads: 2, KeyLength: 24, AllowWeak: true,
		Peppers: []Pepper{{ID: "p", Key: make([]byte, 32)}}}
	h := mustNew(t, o)
	ctx := context.Background()
	s, _ := h.Hash(ctx, []byte("pw"))
	type call struct {
		memory, time uint32
		threads      uint8
		keyLen       uint32
	}
	var calls []call
	h.onDerive = func(m, tm uint32, p uint8, k uint32) { calls = append(calls, call{m, tm, p, k}) }
	if _, _, err := h.Verify(ctx, []byte("pw"), s); err != nil {
		t.Fatal(err)
	}
	if err := h.DummyVerify(ctx, []byte("pw")); err != nil {
		t.Fatal(err)
	}
	if len(calls) != 2 || calls[0] != calls[1] {
		t.Fatalf("Verify and DummyVerify derived with %+v; want the same parameters twice", calls)
	}
}

func TestConcurrencyLimitHoldsUnder100ParallelLogins(t *testing.T) {
	o := fast
	o.Concurrency = 2
	o.MaxWait = time.Hour // a loaded CI machine: nobody may time out here
	h := mustNew(t, o)
	s, _ := h.Hash(context.Background(), []byte("pw"))
	var inFlight, peak atomic.Int64
	h.onDerive = func(uint32, uint32, uint8, uint32) {
		n := inFlight.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		time.Sleep(time.Millisecond) // widen the window in which a third hash could start
		inFlight.Add(-1)
	}
	var wg sync.WaitGroup
	var fails atomic.Int64
	for range 100 {
		wg.Go(func() {
			ok, _, err := h.Verify(context.Background(), []byte("pw"), s)
			if !ok || err != nil {
				fails.Add(1)
			}
		})
	}
	wg.Wait()
	if fails.Load() != 0 {
		t.Fatalf("%d of 100 logins failed", fails.Load())
	}
	if p := peak.Load(); p > 2 || p < 1 {
		t.Fatalf("%d hashes ran at once, limit 2", p)
	}
}

// hold makes h's hashes block until the returned release is called, and
// reports each start on the returned channel.
func hold(h *Hasher) (started <-chan struct{}, release func()) {
	s := make(chan struct{}, 100)
	gate := make(chan struct{})
	h.onDerive = func(uint32, uint32, uint8, uint32) {
		s <- struct{}{}
		<-gate
	}
	return s, sync.OnceFunc(func() { close(gate) })
}

func TestBusyAfterMaxWait(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		o := fast
		o.Concurrency = 1
		o.MaxWait = 2 * time.Second
		h := mustNew(t, o)
		started, release := hold(h)
		go h.Hash(context.Background(), []byte("pw"))
		<-started
		start := time.Now()
		_, err := h.Hash(context.Background(), []byte("pw"))
		if !errors.Is(err, ErrBusy) {
			t.Fatalf("Hash while the only slot is busy = %v, want ErrBusy", err)
		}
		if waited := time.Since(start); waited != 2*time.Second {
			t.Fatalf("waited %v for a slot, want MaxWait 2s", waited)
		}
		release()
	})
}

func TestBusyAtOnceWhenTooManyWait(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		o := fast
		o.Concurrency = 1
		o.MaxWaiting = 1
		h := mustNew(t, o)
		started, release := hold(h)
		go h.Hash(context.Background(), []byte("pw"))
		<-started
		go h.Hash(context.Background(), []byte("pw")) // waits
		synctest.Wait()
		start := time.Now()
		_, err := h.Hash(context.Background(), []byte("pw"))
		if !errors.Is(err, ErrBusy) || time.Since(start) != 0 {
			t.Fatalf("third caller: %v after %v; want ErrBusy at once", err, time.Since(start))
		}
		release()
	})
}

func TestWaitForSlotHonoursContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		o := fast
		o.Concurrency = 1
		h := mustNew(t, o)
		started, release := hold(h)
		go h.Hash(context.Background(), []byte("pw"))
		<-started
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		_, _, err := h.Verify(ctx, []byte("pw"), "$argon2id$v=19$m=64,t=1,p=1$c29tZXNhbHQ$c29tZWhhc2hzb21laGFzaA")
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Verify with a 100ms context while busy = %v, want DeadlineExceeded", err)
		}
		cctx, ccancel := context.WithCancel(context.Background())
		ccancel()
		if err := h.DummyVerify(cctx, []byte("pw")); !errors.Is(err, context.Canceled) {
			t.Fatalf("DummyVerify with a canceled context = %v, want Canceled", err)
		}
		release()
	})
}

func TestBusyIsA503Problem(t *testing.T) {
	err := busy()
	if !errors.Is(err, ErrBusy) {
		t.Fatal("busy() is not ErrBusy")
	}
	if a, b := busy(), busy(); a == b {
		t.Fatal("busy() returns a shared value")
	}
}
