package dispatch_test

import (
	"testing"
	"time"

	"github.com/ridehail/dispatch/dispatch"
	"github.com/ridehail/dispatch/internal/storetest"
)

func TestMemoryBackendContract(t *testing.T) {
	storetest.Run(t, storetest.Backend{
		Rides:     func(*testing.T) dispatch.RideStore { return dispatch.NewMemStore(nil, 0, 0) },
		Drivers:   func(*testing.T) dispatch.DriverStore { return dispatch.NewMemStore(nil, 0, 0) },
		Locker:    func(*testing.T) dispatch.Locker { return dispatch.NewMemLocker(nil) },
		Scheduler: func(*testing.T) dispatch.Scheduler { return dispatch.NewMemScheduler() },
		Locator:   func(*testing.T) dispatch.Locator { return dispatch.NewMemLocator() },
		RetainingRides: func(_ *testing.T, idemTTL, retention time.Duration) dispatch.RideStore {
			return dispatch.NewMemStore(nil, idemTTL, retention)
		},
	})
}
