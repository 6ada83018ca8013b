package redis

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/ridehail/dispatch/dispatch"
	"github.com/ridehail/dispatch/geo"
)

// TestLockExpiryFencing is the acceptance race with a paused lock holder:
// A takes the ride lock with a short TTL and reads the ride, then pauses
// past the TTL; B (another node) takes the lock, reads, assigns; A wakes
// up and writes: the compare-and-set rejects A's stale write, and the ride
// is assigned once, to B.
func TestLockExpiryFencing(t *testing.T) {
	for _, srv := range servers(t) {
		t.Run(srv.name, func(t *testing.T) {
			ctx := context.Background()
			region := testRegion()
			nodeA := openTest(t, srv.url, Options{Region: region})
			nodeB := openTest(t, srv.url, Options{Region: region})
			ride := &dispatch.Ride{ID: "r1", Status: dispatch.RideMatching, RiderID: "rider",
				Pickup: geo.Point{Lat: 37.77, Lon: -122.42}, Dropoff: geo.Point{Lat: 37.8, Lon: -122.41}}
			if _, _, err := nodeA.Store.CreateRide(ctx, ride, ""); err != nil {
				t.Fatal(err)
			}

			lockA, err := nodeA.Locker.Obtain(ctx, "ride:r1", 200*time.Millisecond)
			if err != nil {
				t.Fatal(err)
			}
			seenByA, err := nodeA.Store.Ride(ctx, "r1")
			if err != nil {
				t.Fatal(err)
			}

			// A pauses. B can only get the lock once A's TTL has passed.
			wait, cancel := context.WithTimeout(ctx, 10*time.Second)
			lockB, err := nodeB.Locker.Obtain(wait, "ride:r1", 10*time.Second)
			cancel()
			if err != nil {
				t.Fatalf("B waiting for the expired lock: %v", err)
			}
			seenByB, err := nodeB.Store.Ride(ctx, "r1")
			if err != nil {
				t.Fatal(err)
			}
			seenByB.Status, seenByB.DriverID = dispatch.RideAssigned, "driver-B"
			if err := nodeB.Store.UpdateRide(ctx, seenByB); err != nil {
				t.Fatalf("B's assignment: %v", err)
			}

			// A wakes up, unaware its lock is gone, and writes.
			seenByA.Status, seenByA.DriverID = dispatch.RideAssigned, "driver-A"
			if err := nodeA.Store.UpdateRide(ctx, seenByA); !errors.Is(err, dispatch.ErrConflict) {
				t.Fatalf("A's stale write: %v, want ErrConflict", err)
			}
			// A's late release must not free B's lock.
			if err := lockA.Release(ctx); err != nil {
				t.Fatalf("release of an expired lock: %v", err)
			}
			short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
			_, err = nodeA.Locker.Obtain(short, "ride:r1", time.Second)
			cancel()
			if !errors.Is(err, dispatch.ErrLockNotObtained) {
				t.Fatalf("B's lock was freed by A's release: %v", err)
			}
			if err := lockB.Release(ctx); err != nil {
				t.Fatal(err)
			}

			final, err := nodeA.Store.Ride(ctx, "r1")
			if err != nil {
				t.Fatal(err)
			}
			if final.DriverID != "driver-B" || final.Status != dispatch.RideAssigned || final.Version != 2 {
				t.Fatalf("final ride: driver %q status %s version %d; want driver-B assigned at version 2",
					final.DriverID, final.Status, final.Version)
			}
		})
	}
}

// TestLockerErrors checks the error classification: running out of time
// (redislock reports context.DeadlineExceeded, not ErrNotObtained) and
// cancellation both wrap dispatch.ErrLockNotObtained; a Redis failure does
// not; and a context without deadline waits past redislock's own one-TTL
// limit.
func TestLockerErrors(t *testing.T) {
	ctx := context.Background()
	b := openTest(t, singleURL(t), Options{})
	held, err := b.Locker.Obtain(ctx, "k", 300*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}

	short, cancel := context.WithTimeout(ctx, 30*time.Millisecond)
	_, err = b.Locker.Obtain(short, "k", time.Second)
	cancel()
	if !errors.Is(err, dispatch.ErrLockNotObtained) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("deadline while held: %v", err)
	}
	if dispatch.ErrorCode(err) != dispatch.CodeUnavailable {
		t.Fatalf("code %q", dispatch.ErrorCode(err))
	}

	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	_, err = b.Locker.Obtain(cancelled, "k", time.Second)
	if !errors.Is(err, dispatch.ErrLockNotObtained) || !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled context: %v", err)
	}

	// No deadline: redislock alone would give up after this call's own
	// 20 ms TTL; Obtain keeps waiting until the 300 ms lock expires.
	next, err := b.Locker.Obtain(ctx, "k", 20*time.Millisecond)
	if err != nil {
		t.Fatalf("waiting without deadline: %v", err)
	}
	_ = next.Release(ctx)
	if err := held.Release(ctx); err != nil {
		t.Fatalf("release of an expired lock: %v", err)
	}

	c, err := NewClient(singleURL(t))
	if err != nil {
		t.Fatal(err)
	}
	broken, err := NewBackend(c, Options{Region: testRegion()})
	if err != nil {
		t.Fatal(err)
	}
	_ = broken.Close()
	_, err = broken.Locker.Obtain(ctx, "k", time.Second)
	if err == nil || errors.Is(err, dispatch.ErrLockNotObtained) {
		t.Fatalf("closed client: %v, want a Redis error, not ErrLockNotObtained", err)
	}
}
