// Package storetest is the conformance suite every backend of the dispatch
// storage interfaces runs: the embedded memory implementation and Redis
// run the same tests, so they cannot drift apart.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ridehail/dispatch/dispatch"
	"github.com/ridehail/dispatch/geo"
)

// Backend builds fresh, empty implementations for one test. now is the
// clock the backend must use for TTLs and idempotency expiry where it
// can (Redis uses its own clock; tests then use short real durations).
type Backend struct {
	Rides     func(t *testing.T) dispatch.RideStore
	Drivers   func(t *testing.T) dispatch.DriverStore
	Locker    func(t *testing.T) dispatch.Locker
	Scheduler func(t *testing.T) dispatch.Scheduler
	Locator   func(t *testing.T) dispatch.Locator
	// RetainingRides builds a RideStore whose idempotency keys live
	// idemTTL and whose finished rides live retention, in real time.
	RetainingRides func(t *testing.T, idemTTL, retention time.Duration) dispatch.RideStore
}

// Run runs every suite whose factory is set.
func Run(t *testing.T, b Backend) {
	if b.Rides != nil {
		t.Run("RideStore", func(t *testing.T) { RideStore(t, b.Rides) })
	}
	if b.Drivers != nil {
		t.Run("DriverStore", func(t *testing.T) { DriverStore(t, b.Drivers) })
	}
	if b.RetainingRides != nil {
		t.Run("RideRetention", func(t *testing.T) { RideRetention(t, b.RetainingRides) })
	}
	if b.Locker != nil {
		t.Run("Locker", func(t *testing.T) { Locker(t, b.Locker) })
	}
	if b.Scheduler != nil {
		t.Run("Scheduler", func(t *testing.T) { Scheduler(t, b.Scheduler) })
	}
	if b.Locator != nil {
		t.Run("Locator", func(t *testing.T) { Locator(t, b.Locator) })
	}
}

func sampleRide(id string) *dispatch.Ride {
	return &dispatch.Ride{
		ID: id, Status: dispatch.RideMatching, RiderID: "r-" + id,
		Pickup: geo.Point{Lat: 37.77, Lon: -122.42}, Dropoff: geo.Point{Lat: 37.80, Lon: -122.41},
		CreatedAt: 1, Match: dispatch.Matching{Deadline: 99, Excluded: []string{"x"},
			Offers: []dispatch.Offer{{ID: id + ".1", DriverID: "d1", ExpiresAt: 5, State: dispatch.OfferPending}}},
	}
}

// RideStore checks create, idempotency, read isolation and the fenced
// compare-and-set.
func RideStore(t *testing.T, mk func(t *testing.T) dispatch.RideStore) {
	ctx := context.Background()
	t.Run("CreateGet", func(t *testing.T) {
		s := mk(t)
		r := sampleRide("a")
		got, created, err := s.CreateRide(ctx, r, "")
		if err != nil || !created || got.Version != 1 {
			t.Fatalf("create: %+v %v %v", got, created, err)
		}
		back, err := s.Ride(ctx, "a")
		if err != nil {
			t.Fatal(err)
		}
		if back.RiderID != "r-a" || back.Version != 1 || back.Match.Deadline != 99 ||
			len(back.Match.Offers) != 1 || back.Match.Offers[0].DriverID != "d1" || back.Match.Excluded[0] != "x" {
			t.Fatalf("round trip lost data: %+v", back)
		}
		back.Match.Offers[0].State = dispatch.OfferTaken
		again, _ := s.Ride(ctx, "a")
		if again.Match.Offers[0].State != dispatch.OfferPending {
			t.Fatal("mutating a returned ride changed the stored one")
		}
		if _, err := s.Ride(ctx, "missing"); !errors.Is(err, dispatch.ErrNotFound) {
			t.Fatalf("missing ride: %v", err)
		}
		if _, _, err := s.CreateRide(ctx, sampleRide("a"), ""); !errors.Is(err, dispatch.ErrConflict) {
			t.Fatalf("duplicate id: %v", err)
		}
	})
	t.Run("Idempotency", func(t *testing.T) {
		s := mk(t)
		first, created, err := s.CreateRide(ctx, sampleRide("k1"), "rider\x00key")
		if err != nil || !created {
			t.Fatal(err)
		}
		second, created, err := s.CreateRide(ctx, sampleRide("k2"), "rider\x00key")
		if err != nil || created || second.ID != first.ID {
			t.Fatalf("replay: %+v %v %v", second, created, err)
		}
		if _, err := s.Ride(ctx, "k2"); !errors.Is(err, dispatch.ErrNotFound) {
			t.Fatalf("replayed request stored a second ride: %v", err)
		}
		byKey, err := s.RideByKey(ctx, "rider\x00key")
		if err != nil || byKey.ID != first.ID {
			t.Fatalf("ride by key: %+v %v", byKey, err)
		}
		if _, err := s.RideByKey(ctx, "rider\x00other"); !errors.Is(err, dispatch.ErrNotFound) {
			t.Fatalf("unknown key: %v", err)
		}
	})
	t.Run("CompareAndSet", func(t *testing.T) {
		s := mk(t)
		if _, _, err := s.CreateRide(ctx, sampleRide("c"), ""); err != nil {
			t.Fatal(err)
		}
		a, _ := s.Ride(ctx, "c")
		b, _ := s.Ride(ctx, "c")
		a.Status, a.DriverID = dispatch.RideAssigned, "winner"
		if err := s.UpdateRide(ctx, a); err != nil || a.Version != 2 {
			t.Fatalf("first write: %v version %d", err, a.Version)
		}
		b.Status, b.DriverID = dispatch.RideAssigned, "stale-writer"
		if err := s.UpdateRide(ctx, b); !errors.Is(err, dispatch.ErrConflict) {
			t.Fatalf("stale write: %v", err)
		}
		got, _ := s.Ride(ctx, "c")
		if got.DriverID != "winner" || got.Version != 2 {
			t.Fatalf("fence failed: %+v", got)
		}
		if err := s.UpdateRide(ctx, sampleRide("nope")); err == nil {
			t.Fatal("update of a missing ride succeeded")
		}
	})
	t.Run("ConcurrentCAS", func(t *testing.T) {
		s := mk(t)
		if _, _, err := s.CreateRide(ctx, sampleRide("race"), ""); err != nil {
			t.Fatal(err)
		}
		var wins atomic.Int32
		var wg sync.WaitGroup
		for i := 0; i < 10; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r, err := s.Ride(ctx, "race")
				if err != nil {
					t.Error(err)
					return
				}
				if r.Version != 1 {
					return
				}
				r.DriverID = fmt.Sprint("d", i)
				if s.UpdateRide(ctx, r) == nil {
					wins.Add(1)
				}
			}()
		}
		wg.Wait()
		if wins.Load() != 1 {
			t.Fatalf("%d writers won at version 1", wins.Load())
		}
	})
}

// DriverStore checks create-if-absent and compare-and-set.
func DriverStore(t *testing.T, mk func(t *testing.T) dispatch.DriverStore) {
	ctx := context.Background()
	s := mk(t)
	if _, err := s.Driver(ctx, "d"); !errors.Is(err, dispatch.ErrNotFound) {
		t.Fatalf("missing driver: %v", err)
	}
	d := &dispatch.Driver{ID: "d", Status: dispatch.DriverAvailable, Connected: true}
	if err := s.UpdateDriver(ctx, d); err != nil || d.Version != 1 {
		t.Fatalf("create: %v %d", err, d.Version)
	}
	dup := &dispatch.Driver{ID: "d", Status: dispatch.DriverOffline}
	if err := s.UpdateDriver(ctx, dup); !errors.Is(err, dispatch.ErrConflict) {
		t.Fatalf("second create: %v", err)
	}
	a, _ := s.Driver(ctx, "d")
	b, _ := s.Driver(ctx, "d")
	a.Status, a.OfferID, a.OfferRideID = dispatch.DriverReserved, "r.1", "r"
	if err := s.UpdateDriver(ctx, a); err != nil {
		t.Fatal(err)
	}
	b.Status = dispatch.DriverReserved
	b.OfferID = "other.1"
	if err := s.UpdateDriver(ctx, b); !errors.Is(err, dispatch.ErrConflict) {
		t.Fatalf("double reservation: %v", err)
	}
	got, _ := s.Driver(ctx, "d")
	if got.OfferID != "r.1" || got.Status != dispatch.DriverReserved || !got.Connected || got.Version != 2 {
		t.Fatalf("stored: %+v", got)
	}
	if err := s.UpdateDriver(ctx, &dispatch.Driver{ID: "ghost", Version: 3}); err == nil {
		t.Fatal("update of a missing driver succeeded")
	}
}

// Locker checks mutual exclusion, TTL expiry and that a stale holder's
// release does not free the new holder's lock.
func Locker(t *testing.T, mk func(t *testing.T) dispatch.Locker) {
	ctx := context.Background()
	l := mk(t)
	a, err := l.Obtain(ctx, "k", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	_, err = l.Obtain(short, "k", time.Second)
	cancel()
	if !errors.Is(err, dispatch.ErrLockNotObtained) {
		t.Fatalf("second holder: %v", err)
	}
	if err := a.Release(ctx); err != nil {
		t.Fatal(err)
	}
	b, err := l.Obtain(ctx, "k", 200*time.Millisecond)
	if err != nil {
		t.Fatalf("after release: %v", err)
	}
	// b expires; c takes over; b's late release must not free c.
	wait, cancel := context.WithTimeout(ctx, 5*time.Second)
	c, err := l.Obtain(wait, "k", 5*time.Second)
	cancel()
	if err != nil {
		t.Fatalf("after expiry: %v", err)
	}
	_ = b.Release(ctx)
	short, cancel = context.WithTimeout(ctx, 50*time.Millisecond)
	_, err = l.Obtain(short, "k", time.Second)
	cancel()
	if !errors.Is(err, dispatch.ErrLockNotObtained) {
		t.Fatalf("stale release freed the new holder's lock: %v", err)
	}
	_ = c.Release(ctx)
	// Mutual exclusion under contention.
	var inside, maxInside atomic.Int32
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 5; j++ {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				lk, err := l.Obtain(ctx, "m", 5*time.Second)
				cancel()
				if err != nil {
					t.Error(err)
					return
				}
				n := inside.Add(1)
				if n > maxInside.Load() {
					maxInside.Store(n)
				}
				time.Sleep(time.Millisecond)
				inside.Add(-1)
				_ = lk.Release(context.Background())
			}
		}()
	}
	wg.Wait()
	if maxInside.Load() != 1 {
		t.Fatalf("%d holders at once", maxInside.Load())
	}
}

// Scheduler checks due order, rescheduling, cancel and the claim lease.
func Scheduler(t *testing.T, mk func(t *testing.T) dispatch.Scheduler) {
	ctx := context.Background()
	s := mk(t)
	base := time.Unix(1_700_000_000, 0)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(s.Schedule(ctx, "ride:a", base.Add(1*time.Second)))
	must(s.Schedule(ctx, "ride:b", base.Add(2*time.Second)))
	must(s.Schedule(ctx, "ride:c", base.Add(3*time.Second)))
	must(s.Schedule(ctx, "ride:b", base.Add(10*time.Second))) // moved later
	must(s.Cancel(ctx, "ride:c"))
	keys, err := s.Due(ctx, base.Add(5*time.Second), time.Minute, 10)
	must(err)
	if fmt.Sprint(keys) != "[ride:a]" {
		t.Fatalf("due at +5s: %v", keys)
	}
	// Claimed keys are leased: not due again until the lease ends.
	keys, _ = s.Due(ctx, base.Add(6*time.Second), time.Minute, 10)
	if len(keys) != 0 {
		t.Fatalf("claimed key due again within its lease: %v", keys)
	}
	keys, _ = s.Due(ctx, base.Add(70*time.Second), time.Minute, 10)
	sort.Strings(keys)
	if fmt.Sprint(keys) != "[ride:a ride:b]" {
		t.Fatalf("after lease: %v", keys)
	}
	must(s.Cancel(ctx, "ride:a"))
	must(s.Cancel(ctx, "ride:b"))
	keys, _ = s.Due(ctx, base.Add(time.Hour), time.Minute, 10)
	if len(keys) != 0 {
		t.Fatalf("cancelled keys due: %v", keys)
	}
	// Two claimers never get the same key.
	for i := 0; i < 50; i++ {
		must(s.Schedule(ctx, fmt.Sprint("ride:x", i), base))
	}
	var mu sync.Mutex
	seen := map[string]int{}
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ks, err := s.Due(ctx, base.Add(time.Second), time.Hour, 50)
			if err != nil {
				t.Error(err)
			}
			mu.Lock()
			for _, k := range ks {
				seen[k]++
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	if len(seen) != 50 {
		t.Fatalf("claimed %d of 50 keys", len(seen))
	}
	for k, n := range seen {
		if n != 1 {
			t.Fatalf("key %s claimed %d times", k, n)
		}
	}
}

// Locator checks availability filtering, freshness, exclusion, order,
// exact distances and sweeping; and that invalid points are rejected.
func Locator(t *testing.T, mk func(t *testing.T) dispatch.Locator) {
	ctx := context.Background()
	l := mk(t)
	c := geo.Point{Lat: 37.7749, Lon: -122.4194}
	north := func(m float64) geo.Point { return geo.Point{Lat: c.Lat + m/111195, Lon: c.Lon} }
	now := time.Now().UnixMilli()
	for i, m := range []float64{300, 100, 200, 5000} {
		id := fmt.Sprint("d", i)
		if err := l.Update(ctx, id, north(m), now); err != nil {
			t.Fatal(err)
		}
		if err := l.SetAvailable(ctx, id, true); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Update(ctx, "old", north(50), now-60_000); err != nil {
		t.Fatal(err)
	}
	_ = l.SetAvailable(ctx, "old", true)
	if err := l.Update(ctx, "busy", north(10), now); err != nil {
		t.Fatal(err)
	}
	got, err := l.Nearest(ctx, c, 1000, 10, now-30_000, nil)
	if err != nil {
		t.Fatal(err)
	}
	if ids(got) != "[d1 d2 d0]" {
		t.Fatalf("nearest: %v", ids(got))
	}
	if d := got[0].Distance; d < 99.5 || d > 100.5 {
		t.Fatalf("distance %v, want ~100", d)
	}
	got, _ = l.Nearest(ctx, c, 1000, 2, now-30_000, func(id string) bool { return id == "d1" })
	if ids(got) != "[d2 d0]" {
		t.Fatalf("with skip and k=2: %v", ids(got))
	}
	_ = l.SetAvailable(ctx, "d2", false)
	got, _ = l.Nearest(ctx, c, 1000, 10, now-30_000, nil)
	if ids(got) != "[d1 d0]" {
		t.Fatalf("unavailable driver returned: %v", ids(got))
	}
	p, seen, ok, err := l.Position(ctx, "busy")
	if err != nil || !ok || seen != now || geo.Distance(p, north(10)) > 0.5 {
		t.Fatalf("position: %v %v %v %v", p, seen, ok, err)
	}
	if err := l.Update(ctx, "bad", geo.Point{Lat: 86, Lon: 15}, now); err == nil {
		t.Fatal("latitude 86 accepted: Redis GEO cannot store it, so no backend may")
	}
	if err := l.Update(ctx, "edge", geo.Point{Lat: 85.05112878, Lon: 15}, now); err != nil {
		t.Fatalf("latitude 85.05112878 rejected: %v", err)
	}
	if _, _, ok, _ := l.Position(ctx, "bad"); ok {
		t.Fatal("rejected driver stored")
	}
	swept, err := l.Sweep(ctx, now-30_000)
	if err != nil || fmt.Sprint(swept) != "[old]" {
		t.Fatalf("sweep: %v %v", swept, err)
	}
	if _, _, ok, _ := l.Position(ctx, "old"); ok {
		t.Fatal("swept driver still has a position")
	}
	if err := l.Remove(ctx, "d1"); err != nil {
		t.Fatal(err)
	}
	got, _ = l.Nearest(ctx, c, 1000, 10, 0, nil)
	if ids(got) != "[d0]" {
		t.Fatalf("after remove: %v", ids(got))
	}
}

func ids(cs []dispatch.Candidate) string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.ID
	}
	return fmt.Sprint(out)
}

// RideRetention checks that a finished ride is forgotten once its
// retention has passed (and not before), while a live ride is kept.
func RideRetention(t *testing.T, mk func(t *testing.T, idemTTL, retention time.Duration) dispatch.RideStore) {
	const retention = 400 * time.Millisecond
	ctx := context.Background()
	s := mk(t, 100*time.Millisecond, retention)
	tag := fmt.Sprint(time.Now().UnixNano())
	live, _, err := s.CreateRide(ctx, sampleRide("ret-live-"+tag), "")
	if err != nil {
		t.Fatal(err)
	}
	done, _, err := s.CreateRide(ctx, sampleRide("ret-done-"+tag), "ret-key-"+tag)
	if err != nil {
		t.Fatal(err)
	}
	done.Status = dispatch.RideCancelled
	if err := s.UpdateRide(ctx, done); err != nil {
		t.Fatal(err)
	}
	finished := time.Now()
	if _, err := s.Ride(ctx, done.ID); err != nil {
		t.Fatalf("finished ride gone at once: %v", err)
	}
	deadline := finished.Add(20 * retention)
	for {
		_, err := s.Ride(ctx, done.ID)
		if errors.Is(err, dispatch.ErrNotFound) {
			if gone := time.Since(finished); gone < retention-50*time.Millisecond {
				t.Fatalf("finished ride forgotten after %v, retention %v", gone, retention)
			}
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("finished ride still stored %v after it finished (retention %v)", time.Since(finished), retention)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// A write after the expiry does not bring it back.
	if err := s.UpdateRide(ctx, done); !errors.Is(err, dispatch.ErrNotFound) {
		t.Fatalf("update of a forgotten ride: %v, want ErrNotFound", err)
	}
	if got, err := s.Ride(ctx, live.ID); err != nil || got.Status != live.Status {
		t.Fatalf("live ride after the retention: %+v, %v", got, err)
	}
}
