package redis

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/ridehail/dispatch/dispatch"
	"github.com/ridehail/dispatch/geo"
	"github.com/ridehail/dispatch/pricing"
)

func fullRide(id string) *dispatch.Ride {
	return &dispatch.Ride{
		ID: id, Status: dispatch.RideCompleted, RiderID: "rider-1", DriverID: "driver-9",
		Pickup: geo.Point{Lat: 37.7749, Lon: -122.4194}, Dropoff: geo.Point{Lat: 37.8044, Lon: -122.2712},
		Fare:      pricing.Money{Amount: 1250, Currency: "USD"},
		FinalFare: &pricing.Money{Amount: 1310, Currency: "USD"},
		Surge:     1.3, Region: "sf", QuoteID: "q-1", DistanceM: 13456.25, DurationS: 1234.5,
		TripDistM: 14001.5, TripDurS: 1400, CreatedAt: 1_700_000_000_000, UpdatedAt: 1_700_000_900_000,
		AssignedAt: 1_700_000_010_000, ArrivedAt: 1_700_000_200_000, StartedAt: 1_700_000_300_000,
		CompletedAt:  1_700_000_900_000,
		RiderRating:  &dispatch.Rating{Stars: 5, Comment: "smooth", At: 1_700_000_950_000},
		DriverRating: &dispatch.Rating{Stars: 4, At: 1_700_000_960_000},
		Match: dispatch.Matching{Round: 2, Radius: 3000, Deadline: 1_700_000_060_000, NextAttempt: 1_700_000_005_000,
			Excluded: []string{"driver-2", "driver-3"}, Seq: 3,
			Offers: []dispatch.Offer{
				{ID: id + ".1", DriverID: "driver-2", ExpiresAt: 1_700_000_015_000, PickupDistanceM: 420.5, State: dispatch.OfferDeclined},
				{ID: id + ".2", DriverID: "driver-9", ExpiresAt: 1_700_000_025_000, PickupDistanceM: 880, State: dispatch.OfferAccepted},
			}},
	}
}

// TestStoreRoundTrip checks that every field of a ride, the matcher state
// included (json:"-" on dispatch.Ride), and of a driver survives Redis, and
// that the idempotency key carries its TTL.
func TestStoreRoundTrip(t *testing.T) {
	ctx := context.Background()
	b := openTest(t, singleURL(t), Options{IdempotencyTTL: time.Hour})
	want := fullRide("full")
	got, created, err := b.Store.CreateRide(ctx, want.Clone(), "rider-1\x00key-1")
	if err != nil || !created {
		t.Fatal(created, err)
	}
	want.Version = 1
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("create returned\n%+v\nwant\n%+v", got, want)
	}
	back, err := b.Store.Ride(ctx, "full")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, want) {
		t.Fatalf("read back\n%+v\nwant\n%+v", back, want)
	}
	ttl, err := b.Client.PTTL(ctx, b.Store.k.idem("rider-1\x00key-1")).Result()
	if err != nil || ttl <= 0 || ttl > time.Hour {
		t.Fatalf("idempotency key TTL %v, %v; want within (0, 1h]", ttl, err)
	}
	back.Match.Offers = back.Match.Offers[:1]
	back.Status = dispatch.RideCancelled
	if err := b.Store.UpdateRide(ctx, back); err != nil || back.Version != 2 {
		t.Fatalf("update: %v, version %d", err, back.Version)
	}
	again, _ := b.Store.Ride(ctx, "full")
	if again.Version != 2 || len(again.Match.Offers) != 1 || again.Status != dispatch.RideCancelled {
		t.Fatalf("after update: %+v", again)
	}
	// A version other than 0 on create is a conflict, as in memory.
	bad := fullRide("v")
	bad.Version = 3
	if _, _, err := b.Store.CreateRide(ctx, bad, ""); !errors.Is(err, dispatch.ErrConflict) {
		t.Fatalf("create at version 3: %v", err)
	}
	if err := b.Store.UpdateRide(ctx, fullRide("never-created")); !errors.Is(err, dispatch.ErrNotFound) {
		t.Fatalf("update of a missing ride at version 0: %v", err)
	}

	d := &dispatch.Driver{ID: "d1", Status: dispatch.DriverReserved, OfferID: "r.1", OfferRideID: "r",
		Connected: false, DisconnectedAt: 1_700_000_000_123, WantsOffline: true, UpdatedAt: 77}
	if err := b.Store.UpdateDriver(ctx, d); err != nil || d.Version != 1 {
		t.Fatal(err, d.Version)
	}
	gotD, err := b.Store.Driver(ctx, "d1")
	if err != nil || !reflect.DeepEqual(gotD, d) {
		t.Fatalf("driver read back %+v, %v; want %+v", gotD, err, d)
	}
	if err := b.Store.UpdateDriver(ctx, &dispatch.Driver{ID: "ghost", Version: 2}); !errors.Is(err, dispatch.ErrNotFound) {
		t.Fatalf("update of a missing driver: %v", err)
	}
}

// TestKeysShareOneSlot checks on the Cluster that every key of a region
// hashes to one slot (so the multi-key scripts never hit CROSSSLOT), and
// that a different region may use another.
func TestKeysShareOneSlot(t *testing.T) {
	ctx := context.Background()
	b := openTest(t, clusterURL(t), Options{Region: "sf"})
	k := b.Store.k
	names := []string{k.ride("r1"), k.ride("other"), k.driver("d"), k.idem("rider\x00x"), k.timers(), k.geo(), k.seen(), k.pos(), k.avail()}
	want, err := b.Client.ClusterKeySlot(ctx, names[0]).Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names[1:] {
		if got, _ := b.Client.ClusterKeySlot(ctx, n).Result(); got != want {
			t.Fatalf("key %q in slot %d, %q in %d", n, got, names[0], want)
		}
	}
}
