package pgstore_test

import (
	"testing"

	"github.com/backstop-go/backstop/idempotency"
	"github.com/backstop-go/backstop/idempotency/pgstore"
	"github.com/backstop-go/backstop/idempotency/storetest"
	"github.com/backstop-go/backstop/internal/clocktest"
)

// TestConformance runs the store's conformance suite on the database's
// clock, as a service runs it.
func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) idempotency.Store {
		return pgstore.New(newDB(t), pgstore.Options{})
	}, storetest.Options{})
}

// TestConformanceFakeClock runs the suite on an injected clock: no test
// waits.
func TestConformanceFakeClock(t *testing.T) {
	clock := clocktest.New()
	storetest.Run(t, func(t *testing.T) idempotency.Store {
		return pgstore.New(newDB(t), pgstore.Options{Now: clock.Now})
	}, storetest.Options{Advance: clock.Advance})
}
