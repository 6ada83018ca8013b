package redis

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/ridehail/dispatch/dispatch"
	"github.com/ridehail/dispatch/geo"
	"github.com/ridehail/dispatch/internal/storetest"
)

// TestContract runs the storage conformance suite, the one the memory
// backend passes, against a single Redis and against Redis Cluster. Every
// factory call gets a fresh region.
func TestContract(t *testing.T) {
	for _, srv := range servers(t) {
		t.Run(srv.name, func(t *testing.T) {
			open := func(t *testing.T) *Backend { return openTest(t, srv.url, Options{}) }
			storetest.Run(t, storetest.Backend{
				Rides:     func(t *testing.T) dispatch.RideStore { return open(t).Store },
				Drivers:   func(t *testing.T) dispatch.DriverStore { return open(t).Store },
				Locker:    func(t *testing.T) dispatch.Locker { return open(t).Locker },
				Scheduler: func(t *testing.T) dispatch.Scheduler { return open(t).Scheduler },
				Locator:   func(t *testing.T) dispatch.Locator { return open(t).Locator },
				RetainingRides: func(t *testing.T, idemTTL, retention time.Duration) dispatch.RideStore {
					return openTest(t, srv.url, Options{IdempotencyTTL: idemTTL, RideRetention: retention}).Store
				},
			})
			// The same contract with every fix flushed at once, so Nearest,
			// Position and Sweep answer from Redis rather than from the
			// pending index.
			t.Run("Flushed", func(t *testing.T) {
				storetest.Run(t, storetest.Backend{
					Locator: func(t *testing.T) dispatch.Locator { return flushing{open(t).Locator} },
				})
			})
		})
	}
}

// flushing mirrors every fix to Redis before Update returns.
type flushing struct{ *Locator }

func (l flushing) Update(ctx context.Context, id string, p geo.Point, seen int64) error {
	if err := l.Locator.Update(ctx, id, p, seen); err != nil {
		return err
	}
	if _, err := l.Flush(ctx); err != nil {
		return err
	}
	if n := l.Stats().Pending; n != 0 || l.pend.Len() != 0 {
		return fmt.Errorf("%d fixes pending after a flush, %d in the pending index", n, l.pend.Len())
	}
	return nil
}
