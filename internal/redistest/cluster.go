package redistest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

const (
	clusterMasters = 3
	clusterSlots   = 16384
	// clusterReadyTimeout bounds the wait for a new cluster to agree on
	// its state. A master reports cluster_state:ok no earlier than two
	// seconds after it started (Redis' CLUSTER_WRITABLE_DELAY).
	clusterReadyTimeout = 30 * time.Second
)

var shared struct {
	once  sync.Once
	nodes []*Server
	addrs []string
	err   error
}

// Cluster returns a client of the shared 3-master Redis Cluster, closed
// when t finishes. The cluster is the one at REDIS_CLUSTER_ADDRS
// (comma-separated host:port seeds) when that is set; otherwise three
// cluster-enabled redis-server processes that Cluster starts the first
// time it is called in the test binary, each owning a third of the 16384
// slots, without replicas or persistence, and that Main stops.
//
// Tests share the cluster and must keep to their own keys: build them from
// Prefix. Keys that a script or a multi-key command uses together need the
// same hash tag.
//
// Without REDIS_CLUSTER_ADDRS and without a redis-server binary on PATH
// (Redis 7 or later), Cluster skips t, or fails it when the environment
// variable CI is set.
func Cluster(t testing.TB) *redis.ClusterClient {
	t.Helper()
	requireMain(t, "Cluster")
	if raw := os.Getenv(EnvClusterAddrs); raw != "" {
		var addrs []string
		for a := range strings.SplitSeq(raw, ",") {
			if a = strings.TrimSpace(a); a != "" {
				addrs = append(addrs, a)
			}
		}
		c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs})
		t.Cleanup(func() { _ = c.Close() })
		ctx, cancel := context.WithTimeout(context.Background(), pingTimeout)
		defer cancel()
		err := c.ForEachShard(ctx, func(ctx context.Context, c *redis.Client) error {
			return c.Ping(ctx).Err()
		})
		if err != nil {
			t.Fatalf("redistest: %s=%s: %v", EnvClusterAddrs, raw, err)
		}
		return c
	}
	bin := requireBinary(t, "set "+EnvClusterAddrs)
	shared.once.Do(func() { shared.nodes, shared.addrs, shared.err = startCluster(bin) })
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	for _, n := range shared.nodes {
		if err := n.checkAlive(); err != nil {
			t.Fatal(err)
		}
	}
	c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: shared.addrs})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// startCluster starts the shared cluster and returns its nodes and their
// addresses.
func startCluster(bin string) ([]*Server, []string, error) {
	dir, err := os.MkdirTemp("", "redistest-cluster-*")
	if err != nil {
		return nil, nil, fmt.Errorf("redistest: %w", err)
	}
	registerShared(dir)
	nodes := make([]*Server, clusterMasters)
	for i := range nodes {
		nodes[i] = &Server{bin: bin, dir: filepath.Join(dir, "node"+strconv.Itoa(i)), cluster: true}
		if err := os.Mkdir(nodes[i].dir, 0o700); err != nil {
			return nil, nil, fmt.Errorf("redistest: %w", err)
		}
	}
	registerShared("", nodes...)
	for _, n := range nodes {
		if err := n.start(); err != nil {
			return nil, nil, err
		}
	}
	addrs := make([]string, len(nodes))
	for i, n := range nodes {
		addrs[i] = n.Addr()
	}
	if err := formCluster(nodes); err != nil {
		var tails []string
		for _, n := range nodes {
			path := filepath.Join(n.dir, logName)
			tails = append(tails, "--- tail of "+path+" ---\n"+logTail(path, 0))
		}
		return nil, nil, fmt.Errorf("redistest: form a cluster of %s: %w\n%s",
			strings.Join(addrs, ", "), err, strings.Join(tails, "\n"))
	}
	return nodes, addrs, nil
}

// slotRange returns the first and last slot that master i of n owns.
func slotRange(i, n int) (first, last int) {
	return i * clusterSlots / n, (i+1)*clusterSlots/n - 1
}

// formCluster does what redis-cli --cluster create does, without its
// one-second sleeps: distinct config epochs, slots, MEET, then it waits
// until every node and a cluster client agree.
func formCluster(nodes []*Server) error {
	ctx, cancel := context.WithTimeout(context.Background(), clusterReadyTimeout)
	defer cancel()
	clients := make([]*redis.Client, len(nodes))
	for i, n := range nodes {
		clients[i] = redis.NewClient(&redis.Options{Addr: n.Addr(), DisableIdentity: true})
		defer clients[i].Close()
	}
	for i, c := range clients {
		// Distinct epochs spare the nodes the collision-resolution round.
		if err := c.Do(ctx, "CLUSTER", "SET-CONFIG-EPOCH", i+1).Err(); err != nil {
			return err
		}
		first, last := slotRange(i, len(nodes))
		if err := c.ClusterAddSlotsRange(ctx, first, last).Err(); err != nil {
			return err
		}
	}
	// Every pair meets directly instead of through gossip, which is faster.
	// The bus port must be explicit: it is not the default port+10000.
	for i := range nodes {
		for j := i + 1; j < len(nodes); j++ {
			err := clients[i].Do(ctx, "CLUSTER", "MEET", "127.0.0.1",
				nodes[j].port, nodes[j].busPort).Err()
			if err != nil {
				return err
			}
		}
	}
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		err := clusterReady(ctx, nodes, clients)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("not ready after %v: %w", clusterReadyTimeout, err)
		case <-tick.C:
		}
	}
}

// clusterReady reports why the cluster is not usable yet, or nil.
func clusterReady(ctx context.Context, nodes []*Server, clients []*redis.Client) error {
	want := []string{
		"cluster_state:ok",
		"cluster_slots_ok:" + strconv.Itoa(clusterSlots),
		"cluster_known_nodes:" + strconv.Itoa(len(nodes)),
		"cluster_size:" + strconv.Itoa(len(nodes)),
	}
	for i, c := range clients {
		if !nodes[i].running() {
			return fmt.Errorf("node %s exited", nodes[i].Addr())
		}
		info, err := c.ClusterInfo(ctx).Result()
		if err != nil {
			return err
		}
		for _, w := range want {
			if !strings.Contains(info, w+"\r\n") {
				return fmt.Errorf("node %s: CLUSTER INFO lacks %s", nodes[i].Addr(), w)
			}
		}
	}
	addrs := make([]string, len(nodes))
	for i, n := range nodes {
		addrs[i] = n.Addr()
	}
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs, DisableIdentity: true})
	defer cc.Close()
	var masters atomic.Int32
	err := cc.ForEachMaster(ctx, func(context.Context, *redis.Client) error {
		masters.Add(1)
		return nil
	})
	if err != nil {
		return err
	}
	if got := int(masters.Load()); got != len(nodes) {
		return fmt.Errorf("cluster client sees %d masters, want %d", got, len(nodes))
	}
	// One key in each master's range proves that routing works everywhere.
	for i := range nodes {
		first, last := slotRange(i, len(nodes))
		key := keyInSlots("redistest:probe:", first, last)
		if err := cc.Set(ctx, key, "ok", time.Minute).Err(); err != nil {
			return fmt.Errorf("SET %s: %w", key, err)
		}
		if v, err := cc.Get(ctx, key).Result(); err != nil {
			return fmt.Errorf("GET %s: %w", key, err)
		} else if v != "ok" {
			return fmt.Errorf("GET %s = %q, want %q", key, v, "ok")
		}
	}
	return nil
}

// keyInSlots returns prefix followed by the smallest number whose key hashes
// into [first, last].
func keyInSlots(prefix string, first, last int) string {
	for n := 0; ; n++ {
		k := prefix + strconv.Itoa(n)
		if s := Slot(k); s >= first && s <= last {
			return k
		}
	}
}
