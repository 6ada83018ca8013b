package dispatch

import (
	"context"
	"time"

	"github.com/ridehail/dispatch/geo"
	"github.com/ridehail/dispatch/pricing"
)

// RideStore persists rides. Implementations return copies: mutating a
// returned *Ride never changes the stored one.
type RideStore interface {
	// CreateRide stores r (Version must be 0; it is stored as 1). With a
	// non-empty idemKey, a second call with the same key returns the ride
	// first stored under it and created=false.
	CreateRide(ctx context.Context, r *Ride, idemKey string) (stored *Ride, created bool, err error)
	// Ride returns the ride or an error wrapping ErrNotFound.
	Ride(ctx context.Context, id string) (*Ride, error)
	// RideByKey returns the ride first stored under idemKey, or an error
	// wrapping ErrNotFound when the key is unknown or expired.
	RideByKey(ctx context.Context, idemKey string) (*Ride, error)
	// UpdateRide is a compare-and-set: it succeeds only when the stored
	// version equals r.Version, then stores r with Version+1 and sets
	// r.Version to it. Otherwise it returns an error wrapping ErrConflict
	// (or ErrNotFound) and changes nothing.
	UpdateRide(ctx context.Context, r *Ride) error
}

// DriverStore persists driver dispatch records.
type DriverStore interface {
	// Driver returns the record or an error wrapping ErrNotFound.
	Driver(ctx context.Context, id string) (*Driver, error)
	// UpdateDriver is a compare-and-set like UpdateRide. Version 0 means
	// "create": it fails with ErrConflict when the driver already exists.
	UpdateDriver(ctx context.Context, d *Driver) error
}

// Locker hands out per-key mutual exclusion with a time to live. A lock
// whose TTL has passed may be taken by someone else: writers must fence
// their writes (the stores' compare-and-set) rather than trust the lock.
type Locker interface {
	// Obtain takes the lock for key, waiting until ctx ends. It returns an
	// error wrapping ErrLockNotObtained when it could not.
	Obtain(ctx context.Context, key string, ttl time.Duration) (Lock, error)
}

// Lock is a held lock.
type Lock interface {
	// Release frees the lock if it is still ours; it never frees a lock
	// someone else took after ours expired.
	Release(ctx context.Context) error
}

// Scheduler holds timers that survive the goroutine (and, with a shared
// backend, the node) that set them.
type Scheduler interface {
	// Schedule sets key's due time, replacing any earlier one.
	Schedule(ctx context.Context, key string, at time.Time) error
	// Cancel removes key.
	Cancel(ctx context.Context, key string) error
	// Due claims up to limit keys due at now. A claimed key is re-armed at
	// now+lease, so if the claimer dies the key comes due again; the
	// claimer reschedules or cancels it when done.
	Due(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]string, error)
}

// Candidate is a driver found near a point.
type Candidate struct {
	ID       string
	Point    geo.Point
	Distance float64
	Seen     int64
}

// Locator tracks drivers' latest positions and finds the nearest available
// ones. It is the location-ingest hot path.
type Locator interface {
	// Update records a driver's fix (seen in Unix ms).
	Update(ctx context.Context, id string, p geo.Point, seen int64) error
	// SetAvailable says whether id may be returned by Nearest.
	SetAvailable(ctx context.Context, id string, available bool) error
	// Remove forgets id.
	Remove(ctx context.Context, id string) error
	// Position returns id's latest fix.
	Position(ctx context.Context, id string) (p geo.Point, seen int64, ok bool, err error)
	// Nearest returns up to k available drivers seen at or after
	// seenAfter within radius metres of center, nearest first, skipping
	// those for which skip returns true. Distances are geo.Distance on raw
	// coordinates.
	Nearest(ctx context.Context, center geo.Point, radius float64, k int, seenAfter int64, skip func(id string) bool) ([]Candidate, error)
	// Sweep forgets drivers not seen since before and returns them.
	Sweep(ctx context.Context, before int64) ([]string, error)
}

// Notifier delivers events to connected clients. Delivery is best effort:
// a client that is not connected misses the event and resynchronises from
// the snapshot it gets when it reconnects.
type Notifier interface {
	NotifyDriver(ctx context.Context, driverID string, ev Event)
	NotifyRide(ctx context.Context, rideID string, ev Event)
}

// Pricer prices rides. pricing.Calculator implements it.
type Pricer interface {
	Estimate(pickup, dropoff geo.Point) (pricing.Estimate, error)
	Quote(pickup, dropoff geo.Point) (pricing.Quote, error)
	VerifyQuote(id string, pickup, dropoff geo.Point) (pricing.Quote, error)
	RecordDemand(p geo.Point)
	FinalFare(b pricing.Booking, actualDistanceM, actualDurationS float64) (pricing.Settlement, error)
}

// Presence tells whether a node of a cluster is alive. Only a cluster
// needs it: with it, the stale-driver sweep hands back the drivers whose
// connection was on a node that died (kill -9, power loss), whose end
// nobody else would report.
type Presence interface {
	NodeAlive(ctx context.Context, node string) (bool, error)
}

// Clock tells the time.
type Clock interface{ Now() time.Time }

type wallClock struct{}

func (wallClock) Now() time.Time { return time.Now() }

// nopNotifier drops every event.
type nopNotifier struct{}

func (nopNotifier) NotifyDriver(context.Context, string, Event) {}
func (nopNotifier) NotifyRide(context.Context, string, Event)   {}
