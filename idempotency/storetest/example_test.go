package storetest_test

import (
	"testing"

	"github.com/backstop-go/backstop/idempotency"
	"github.com/backstop-go/backstop/idempotency/storetest"
)

// The suite takes a *testing.T, so these examples are compiled but not run;
// idempotency's own tests run both functions on every store Backstop ships.

// Run the conformance suite against a store from a test of your own. Each
// subtest gets a new, empty store.
func ExampleRun() {
	_ = func(t *testing.T) { // func TestMyStoreConformance(t *testing.T)
		storetest.Run(t, func(t *testing.T) idempotency.Store {
			return idempotency.NewMemoryStore(idempotency.MemoryOptions{}) // your store here
		}, storetest.Options{})
	}
}

// Two middlewares sharing one store stand for two instances of an app: 200
// concurrent identical requests spread over both must run the handler once.
func ExampleStorm() {
	_ = func(t *testing.T) { // func TestMyStoreStorm(t *testing.T)
		st := idempotency.NewMemoryStore(idempotency.MemoryOptions{}) // your store here
		storetest.Storm(t, 200,
			idempotency.New(st, idempotency.AuthorizationScope, idempotency.Options{}),
			idempotency.New(st, idempotency.AuthorizationScope, idempotency.Options{}))
	}
}
