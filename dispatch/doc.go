// Package dispatch is the domain core of the ride-hailing engine: the ride
// and driver lifecycles, the matcher that offers rides to the nearest
// available drivers, the acceptance race, and the timers that drive them.
//
// It imports no transport and no storage client. It declares the small
// interfaces it needs — RideStore, DriverStore, Locker, Scheduler, Locator,
// Notifier, Pricer and Clock — and ships in-memory implementations of the
// storage ones (NewMemStore, NewMemLocker, NewMemScheduler, NewMemLocator)
// so that an Engine with a zero Deps runs with no set-up. The Redis backend
// implements the same interfaces in internal/redis.
//
// Concurrency: every Engine method is safe for concurrent use. Each ride is
// mutated only while its per-ride lock is held, and every write is a
// compare-and-set on the ride's Version (a fence), so a holder whose lock
// expired during a pause can never overwrite a newer state. Drivers are
// reserved with a compare-and-set on the driver's Version, so a driver holds
// at most one offer and at most one live ride. Lock order: ride lock, then
// driver records (never the reverse); the Locator and Notifier are called
// with no store lock held.
//
// Time comes from Deps.Clock; timers are entries in Deps.Scheduler processed
// by Tick, which Run calls on a ticker. Tests and the offline simulator call
// Tick themselves on a virtual clock.
package dispatch
