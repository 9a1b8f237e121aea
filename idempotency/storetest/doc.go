// Package storetest is a conformance suite for implementations of
// idempotency.Store. Every store in Backstop passes it (in memory, Redis
// single node, Redis Cluster); run it against your own store with
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) idempotency.Store { return newMyStore(t) }, storetest.Options{})
//	}
//
// [Storm] drives the middleware itself: many identical concurrent requests
// through one or several middlewares sharing a store must run the handler
// exactly once.
package storetest
