// Package childproc starts the server processes that test harnesses run
// (redis-server, postgres) so that they die with the test binary, even when
// it panics, hits -timeout or is killed before its cleanups run.
package childproc
