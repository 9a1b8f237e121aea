// Package redistest gives tests a real Redis: a shared single server, a
// shared 3-master Redis Cluster, and private servers that a test can stop
// and restart to simulate an outage.
//
// A package whose tests use Client or Cluster calls Main from TestMain, so
// that the servers started for the test binary are stopped when it ends:
//
//	func TestMain(m *testing.M) { redistest.Main(m) }
//
//	func TestStore(t *testing.T) {
//		rdb := redistest.Client(t)            // or redistest.Cluster(t)
//		key := redistest.Prefix(t) + "{user42}:tokens"
//		...
//	}
//
// # Servers
//
// Client and Cluster start their servers lazily, the first time a test of
// the binary asks for one, and share them with every later test: a cluster
// takes about two seconds to form, which is paid once per package. Tests
// that share a server keep to their own keys by building them from Prefix;
// nothing is flushed between tests. Each call returns a new client, closed
// when the test finishes.
//
// The servers listen on free loopback ports, keep their files in a
// temporary directory and do not persist anything (save "" and appendonly
// no). Each one logs to redis.log in its directory; when a server fails to
// start or a cluster fails to form, the error carries the tail of the logs.
// On Linux the kernel kills the servers if the test binary dies without
// cleaning up (a panic, a -timeout); elsewhere Main and the test cleanups
// are the only guard.
//
// NewServer starts a private server for one test, stopped at its cleanup.
// Server.Stop kills it as a crash would, Server.Restart brings it back empty
// on the same address, so a client created before the outage works again
// after it without being recreated.
//
// # Environment
//
//   - REDIS_URL: Client uses this server (a URL for redis.ParseURL) instead
//     of starting one.
//   - REDIS_CLUSTER_ADDRS: Cluster uses this cluster (comma-separated
//     host:port seeds) instead of starting one.
//   - CI: when non-empty, a missing redis-server binary fails the tests
//     that need it instead of skipping them, so a CI machine without Redis
//     cannot pass by running nothing.
//
// Starting servers needs redis-server 7.0 or later on PATH (Debian:
// apt-get install redis-server). NewServer always starts its own server.
package redistest
