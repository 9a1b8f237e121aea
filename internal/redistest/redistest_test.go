package redistest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

func TestMain(m *testing.M) { Main(m) }

func TestClientSetGet(t *testing.T) {
	ctx := t.Context()
	rdb := Client(t)
	key := Prefix(t) + "greeting"
	if err := rdb.Set(ctx, key, "hello", time.Minute).Err(); err != nil {
		t.Fatalf("SET: %v", err)
	}
	got, err := rdb.Get(ctx, key).Result()
	if err != nil || got != "hello" {
		t.Fatalf("GET = %q, %v; want %q, nil", got, err, "hello")
	}
}

func TestClientSharesOneServer(t *testing.T) {
	ctx := t.Context()
	a, b := Client(t), Client(t)
	key := Prefix(t) + "shared"
	if err := a.Set(ctx, key, "1", time.Minute).Err(); err != nil {
		t.Fatalf("SET: %v", err)
	}
	if got, err := b.Get(ctx, key).Result(); err != nil || got != "1" {
		t.Fatalf("GET through a second client = %q, %v; want %q, nil", got, err, "1")
	}
	// Persistence is off unless the server is an external one.
	if os.Getenv(EnvURL) == "" {
		cfg, err := a.ConfigGet(ctx, "appendonly").Result()
		if err != nil || cfg["appendonly"] != "no" {
			t.Errorf("CONFIG GET appendonly = %v, %v; want no", cfg, err)
		}
		cfg, err = a.ConfigGet(ctx, "save").Result()
		if err != nil || cfg["save"] != "" {
			t.Errorf("CONFIG GET save = %v, %v; want empty", cfg, err)
		}
	}
}

func TestClientUsesREDIS_URL(t *testing.T) {
	if os.Getenv(EnvURL) != "" {
		t.Skip("REDIS_URL is set already")
	}
	ctx := t.Context()
	shared := Client(t)
	key := Prefix(t) + "via-url"
	if err := shared.Set(ctx, key, "yes", time.Minute).Err(); err != nil {
		t.Fatalf("SET: %v", err)
	}
	addr := shared.(*redis.Client).Options().Addr
	t.Setenv(EnvURL, "redis://"+addr+"/0")
	viaURL := Client(t)
	if got, err := viaURL.Get(ctx, key).Result(); err != nil || got != "yes" {
		t.Fatalf("GET through REDIS_URL = %q, %v; want %q, nil", got, err, "yes")
	}
}

func TestClientBadREDIS_URL(t *testing.T) {
	closed := closedPort(t)
	tests := []struct {
		name, url string
		want      string
	}{
		{"unparsable", "http://user:hunter2@localhost/", "invalid URL scheme"},
		{"unreachable", "redis://user:hunter2@127.0.0.1:" + closed + "/0?max_retries=-1", "connection refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(EnvURL, tt.url)
			f := runFake(t, func(tb testing.TB) { Client(tb) })
			if !f.failed {
				t.Fatalf("Client with REDIS_URL=%s did not fail; log: %q", tt.url, f.log)
			}
			if !strings.Contains(f.log, tt.want) {
				t.Errorf("failure %q does not mention %q", f.log, tt.want)
			}
			if strings.Contains(f.log, "hunter2") {
				t.Errorf("failure %q leaks the password", f.log)
			}
		})
	}
}

func TestMissingBinary(t *testing.T) {
	tests := []struct {
		name, ci   string
		wantFailed bool
	}{
		{"skips without CI", "", false},
		{"fails with CI", "true", true},
	}
	calls := []struct {
		name string
		fn   func(testing.TB)
	}{
		{"Client", func(tb testing.TB) { Client(tb) }},
		{"Cluster", func(tb testing.TB) { Cluster(tb) }},
		{"NewServer", func(tb testing.TB) { NewServer(tb) }},
	}
	for _, tt := range tests {
		for _, call := range calls {
			t.Run(tt.name+"/"+call.name, func(t *testing.T) {
				t.Setenv("PATH", t.TempDir())
				t.Setenv(EnvCI, tt.ci)
				t.Setenv(EnvURL, "")
				t.Setenv(EnvClusterAddrs, "")
				f := runFake(t, call.fn)
				if f.failed != tt.wantFailed || f.skipped == tt.wantFailed {
					t.Fatalf("failed=%v skipped=%v, want failed=%v skipped=%v; log: %q",
						f.failed, f.skipped, tt.wantFailed, !tt.wantFailed, f.log)
				}
				if !strings.Contains(f.log, "redis-server not found") {
					t.Errorf("message %q does not say what is missing", f.log)
				}
			})
		}
	}
}

func TestPrefix(t *testing.T) {
	tests := []struct {
		name     string
		wantName string // the sanitised test name the prefix starts with
	}{
		{"plain", "TestPrefix_plain:"},
		{"with {braces} and spaces", "TestPrefix_with__braces__and_spaces:"},
		{"colons:and*globs?", "TestPrefix_colons_and_globs_:"},
		{strings.Repeat("long", 30), "TestPrefix_" + strings.Repeat("long", 30)[:48-len("TestPrefix_")] + ":"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b := Prefix(t), Prefix(t)
			if a == b {
				t.Errorf("two calls returned the same prefix %q", a)
			}
			for _, p := range []string{a, b} {
				if !strings.HasPrefix(p, tt.wantName) {
					t.Errorf("Prefix = %q, want it to start with %q", p, tt.wantName)
				}
				if strings.ContainsAny(p, "{}*?[] ") {
					t.Errorf("Prefix = %q contains a brace, glob or space", p)
				}
				if !strings.HasSuffix(p, ":") {
					t.Errorf("Prefix = %q does not end with ':'", p)
				}
			}
		})
	}
}

func TestSlot(t *testing.T) {
	tests := []struct {
		key  string
		want int
	}{
		// Values from the Redis Cluster specification and CLUSTER KEYSLOT.
		{"123456789", 0x31C3 % 16384},
		{"foo", 12182},
		{"bar", 5061},
		{"{user1000}.following", Slot("user1000")},
		{"{user1000}.followers", Slot("user1000")},
		{"foo{}{bar}", Slot("foo{}{bar}")}, // empty tag: the whole key
		{"foo{{bar}}zap", Slot("{bar")},
		{"foo{bar}{zap}", Slot("bar")},
		{"", 0},
	}
	for _, tt := range tests {
		if got := Slot(tt.key); got != tt.want {
			t.Errorf("Slot(%q) = %d, want %d", tt.key, got, tt.want)
		}
	}
	// CLUSTER KEYSLOT, which needs a server in cluster mode, is the reference.
	keys := []string{"a{b}c", "{}", "}{x}", "{a}{b}", "über", Prefix(t) + "{tag}"}
	for _, tt := range tests {
		keys = append(keys, tt.key)
	}
	cc := Cluster(t)
	for _, k := range keys {
		want, err := cc.ClusterKeySlot(t.Context(), k).Result()
		if err != nil {
			t.Fatalf("CLUSTER KEYSLOT %q: %v", k, err)
		}
		if got := Slot(k); got != int(want) {
			t.Errorf("Slot(%q) = %d, CLUSTER KEYSLOT says %d", k, got, want)
		}
	}
}

func TestClusterSpreadsKeysOverAllMasters(t *testing.T) {
	ctx := t.Context()
	cc := Cluster(t)
	prefix := Prefix(t)
	const n = 300
	for i := range n {
		if err := cc.Set(ctx, prefix+strconv.Itoa(i), i, time.Minute).Err(); err != nil {
			t.Fatalf("SET: %v", err)
		}
	}
	var (
		mu     sync.Mutex
		counts = map[string]int{}
	)
	err := cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error {
		keys, err := scanAll(ctx, c, prefix+"*")
		mu.Lock()
		counts[c.Options().Addr] = len(keys)
		mu.Unlock()
		return err
	})
	if err != nil {
		t.Fatalf("ForEachMaster: %v", err)
	}
	if len(counts) != 3 {
		t.Fatalf("keys counted on %d masters (%v), want 3", len(counts), counts)
	}
	total := 0
	for addr, c := range counts {
		if c == 0 {
			t.Errorf("master %s holds none of the %d keys: %v", addr, n, counts)
		}
		total += c
	}
	if total != n {
		t.Errorf("masters hold %d keys in all, want %d: %v", total, n, counts)
	}
}

func scanAll(ctx context.Context, c *redis.Client, match string) ([]string, error) {
	var all []string
	var cursor uint64
	for {
		keys, next, err := c.Scan(ctx, cursor, match, 100).Result()
		if err != nil {
			return nil, err
		}
		all = append(all, keys...)
		if cursor = next; cursor == 0 {
			return all, nil
		}
	}
}

func TestClusterUsesREDIS_CLUSTER_ADDRS(t *testing.T) {
	if os.Getenv(EnvClusterAddrs) != "" {
		t.Skip("REDIS_CLUSTER_ADDRS is set already")
	}
	ctx := t.Context()
	shared := Cluster(t)
	key := Prefix(t) + "via-env"
	if err := shared.Set(ctx, key, "yes", time.Minute).Err(); err != nil {
		t.Fatalf("SET: %v", err)
	}
	// One seed is enough; spaces and empty items are tolerated.
	t.Setenv(EnvClusterAddrs, " "+shared.Options().Addrs[1]+" ,,")
	viaEnv := Cluster(t)
	if got, err := viaEnv.Get(ctx, key).Result(); err != nil || got != "yes" {
		t.Fatalf("GET through REDIS_CLUSTER_ADDRS = %q, %v; want %q, nil", got, err, "yes")
	}
	t.Setenv(EnvClusterAddrs, "127.0.0.1:"+closedPort(t))
	if f := runFake(t, func(tb testing.TB) { Cluster(tb) }); !f.failed {
		t.Errorf("Cluster with an unreachable REDIS_CLUSTER_ADDRS did not fail")
	}
}

func TestClusterSlotsInThreeRanges(t *testing.T) {
	if os.Getenv(EnvClusterAddrs) != "" {
		t.Skip("the layout of an external cluster is its own")
	}
	slots, err := Cluster(t).ClusterSlots(t.Context()).Result() //lint:ignore SA1019 CLUSTER SLOTS gives the ranges this test checks
	if err != nil {
		t.Fatalf("CLUSTER SLOTS: %v", err)
	}
	var got [][2]int
	for _, s := range slots {
		got = append(got, [2]int{s.Start, s.End})
		if len(s.Nodes) != 1 {
			t.Errorf("slots %d-%d served by %d nodes, want 1 master and no replica", s.Start, s.End, len(s.Nodes))
		}
	}
	slices.SortFunc(got, func(a, b [2]int) int { return a[0] - b[0] })
	want := [][2]int{{0, 5460}, {5461, 10921}, {10922, 16383}}
	if !slices.Equal(got, want) {
		t.Errorf("slot ranges = %v, want %v", got, want)
	}
}

func TestClusterLuaWithHashTag(t *testing.T) {
	ctx := t.Context()
	cc := Cluster(t)
	// Moves a value between two keys atomically; the keys share a hash tag,
	// so they live in one slot, as a script's keys must.
	move := redis.NewScript(`
		local v = redis.call('GET', KEYS[1])
		if not v then return false end
		redis.call('DEL', KEYS[1])
		redis.call('SET', KEYS[2], v, 'PX', ARGV[1])
		return v`)
	prefix := Prefix(t)
	// One tag per slot range, so the script runs on every master.
	ranges, err := cc.ClusterSlots(ctx).Result() //lint:ignore SA1019 CLUSTER SLOTS gives one range per master
	if err != nil {
		t.Fatalf("CLUSTER SLOTS: %v", err)
	}
	var tags []string
	for _, r := range ranges {
		for i := 0; ; i++ {
			tag := "t" + strconv.Itoa(i)
			if s := Slot(tag); s >= r.Start && s <= r.End {
				tags = append(tags, tag)
				break
			}
		}
	}
	if len(tags) < 3 {
		t.Fatalf("found tags %v for %d slot ranges, want at least 3", tags, len(ranges))
	}
	for _, tag := range tags {
		src, dst := prefix+"{"+tag+"}:src", prefix+"{"+tag+"}:dst"
		if err := cc.Set(ctx, src, "v-"+tag, time.Minute).Err(); err != nil {
			t.Fatalf("SET: %v", err)
		}
		got, err := move.Run(ctx, cc, []string{src, dst}, 60000).Text()
		if err != nil || got != "v-"+tag {
			t.Fatalf("script on tag %q = %q, %v; want %q, nil", tag, got, err, "v-"+tag)
		}
		if n, err := cc.Exists(ctx, src).Result(); err != nil || n != 0 {
			t.Errorf("EXISTS %s = %d, %v; want 0", src, n, err)
		}
		if v, err := cc.Get(ctx, dst).Result(); err != nil || v != "v-"+tag {
			t.Errorf("GET %s = %q, %v; want %q", dst, v, err, "v-"+tag)
		}
	}
	// Keys in different slots are refused: the cluster is a real one.
	a, b := prefix+"{a}", prefix+"{b}"
	if Slot(a) == Slot(b) {
		t.Fatal("test keys share a slot")
	}
	err = move.Run(ctx, cc, []string{a, b}, 60000).Err()
	if err == nil || !strings.Contains(err.Error(), "CROSSSLOT") {
		t.Errorf("script over two slots: err = %v, want CROSSSLOT", err)
	}
}

func TestServerStopRestart(t *testing.T) {
	ctx := t.Context()
	s := NewServer(t)
	addr := s.Addr()
	rdb := s.Client(t)
	key := Prefix(t) + "k"
	if err := rdb.Set(ctx, key, "before", 0).Err(); err != nil {
		t.Fatalf("SET before Stop: %v", err)
	}

	s.Stop(t)
	// Enough failures to make go-redis stop dialing (one per pool slot), as
	// a long outage would; Restart must wait for the client to recover.
	var wg sync.WaitGroup
	for range rdb.Options().PoolSize + 1 {
		wg.Go(func() {
			if err := rdb.Get(ctx, key).Err(); err == nil || errors.Is(err, redis.Nil) {
				t.Errorf("GET while stopped: err = %v, want a connection error", err)
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	if conn, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		conn.Close()
		t.Fatalf("port %s still accepts connections after Stop", addr)
	}
	s.Stop(t) // stopping twice is harmless

	s.Restart(t)
	if got := s.Addr(); got != addr {
		t.Fatalf("Addr after Restart = %s, want %s", got, addr)
	}
	// The same client, not a new one, works again; the data did not persist.
	if err := rdb.Get(ctx, key).Err(); !errors.Is(err, redis.Nil) {
		t.Fatalf("GET after Restart: err = %v, want redis.Nil", err)
	}
	if err := rdb.Set(ctx, key, "after", 0).Err(); err != nil {
		t.Fatalf("SET after Restart: %v", err)
	}
	if got, err := rdb.Get(ctx, key).Result(); err != nil || got != "after" {
		t.Fatalf("GET after Restart = %q, %v; want %q, nil", got, err, "after")
	}

	s.Restart(t) // restarting a running server replaces it
	if err := rdb.Ping(ctx).Err(); err != nil {
		t.Fatalf("PING after second Restart: %v", err)
	}
}

func TestNewServerIsPrivate(t *testing.T) {
	ctx := t.Context()
	a, b := NewServer(t), NewServer(t)
	if a.Addr() == b.Addr() {
		t.Fatalf("two servers share the address %s", a.Addr())
	}
	key := Prefix(t) + "k"
	if err := a.Client(t).Set(ctx, key, "a", 0).Err(); err != nil {
		t.Fatalf("SET: %v", err)
	}
	if err := b.Client(t).Get(ctx, key).Err(); !errors.Is(err, redis.Nil) {
		t.Fatalf("GET on the other server: err = %v, want redis.Nil", err)
	}
}

func TestNewServerStoppedAtCleanup(t *testing.T) {
	var addr string
	t.Run("owner", func(t *testing.T) {
		addr = NewServer(t).Addr()
	})
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err == nil {
		conn.Close()
		t.Fatalf("server at %s still accepts connections after its test ended", addr)
	}
}

func TestStartFailureShowsLog(t *testing.T) {
	bin := requireBinary(t, "")
	// A port held by someone else, and a Server that must keep it, as on
	// Restart: the start fails, and says why.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	s := &Server{bin: bin, dir: t.TempDir(), port: l.Addr().(*net.TCPAddr).Port}
	t.Cleanup(s.stop)
	err = s.start()
	if err == nil {
		t.Fatal("start on a taken port succeeded")
	}
	if !errors.Is(err, errAddrInUse) {
		t.Errorf("err = %v, want errAddrInUse in its chain", err)
	}
	for _, want := range []string{"--- tail of ", "Address already in use"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("err = %q, want it to contain %q", err, want)
		}
	}
	if s.Addr() != l.Addr().String() {
		t.Errorf("Addr = %s, want the fixed %s", s.Addr(), l.Addr())
	}
}

// closedPort returns a loopback port nobody listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	l.Close()
	return port
}

// fakeTB records what a helper does to its test, so that tests can check
// helpers that skip or fail. It delegates everything else to the real test.
type fakeTB struct {
	testing.TB
	mu       sync.Mutex
	log      string
	failed   bool
	skipped  bool
	cleanups []func()
}

func (f *fakeTB) Helper() {}

func (f *fakeTB) Cleanup(fn func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cleanups = append(f.cleanups, fn)
}

func (f *fakeTB) end(fail, skip bool, msg string) {
	f.mu.Lock()
	f.log += msg
	f.failed = f.failed || fail
	f.skipped = f.skipped || skip
	f.mu.Unlock()
	runtime.Goexit()
}

func (f *fakeTB) Fatal(args ...any)                 { f.end(true, false, fmt.Sprint(args...)) }
func (f *fakeTB) Fatalf(format string, args ...any) { f.end(true, false, fmt.Sprintf(format, args...)) }
func (f *fakeTB) Skip(args ...any)                  { f.end(false, true, fmt.Sprint(args...)) }
func (f *fakeTB) Skipf(format string, args ...any)  { f.end(false, true, fmt.Sprintf(format, args...)) }
func (f *fakeTB) SkipNow()                          { f.end(false, true, "") }
func (f *fakeTB) FailNow()                          { f.end(true, false, "") }

// runFake runs fn with a fakeTB on its own goroutine, as the testing
// package does, so that Fatal and Skip can end it, then runs its cleanups.
func runFake(t *testing.T, fn func(testing.TB)) *fakeTB {
	f := &fakeTB{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(f)
	}()
	<-done
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := len(f.cleanups) - 1; i >= 0; i-- {
		f.cleanups[i]()
	}
	return f
}

func TestCrashedServerIsReported(t *testing.T) {
	s := NewServer(t)
	if err := s.checkAlive(); err != nil {
		t.Fatalf("checkAlive on a running server: %v", err)
	}
	s.mu.Lock()
	p := s.proc
	s.mu.Unlock()
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-p.exited
	err := s.checkAlive()
	if err == nil {
		t.Fatal("checkAlive on a crashed server returned nil")
	}
	for _, want := range []string{"not running", "--- tail of ", "Ready to accept connections"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("checkAlive = %q, want it to contain %q", err, want)
		}
	}
}

func TestSharedServersNeedMain(t *testing.T) {
	// Tests of this package run one at a time (none calls t.Parallel), so
	// nothing else sees the flag down.
	mainRunning.Store(false)
	defer mainRunning.Store(true)
	for name, fn := range map[string]func(testing.TB){
		"Client":  func(tb testing.TB) { Client(tb) },
		"Cluster": func(tb testing.TB) { Cluster(tb) },
	} {
		t.Run(name, func(t *testing.T) {
			f := runFake(t, fn)
			if !f.failed || !strings.Contains(f.log, "redistest.Main(m)") {
				t.Errorf("without Main: failed=%v, log %q; want a failure naming redistest.Main", f.failed, f.log)
			}
		})
	}
}
