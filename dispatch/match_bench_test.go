package dispatch_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/ridehail/dispatch/dispatch"
	"github.com/ridehail/dispatch/geo"
)

// BenchmarkRequestRide measures a ride request end to end inside the engine
// with 100k connected, fresh drivers in a 30 × 30 km city: pricing, the
// store, the nearest-10 search, ten driver reservations and ten offers;
// then the rider cancels (releasing the drivers), which is included.
func BenchmarkRequestRide(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			clock := &fakeClock{t: time.Unix(1_700_000_000, 0)}
			e, err := dispatch.New(dispatch.Config{}, dispatch.Deps{Clock: clock})
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			rng := rand.New(rand.NewPCG(1, 2))
			city := func() geo.Point {
				return geo.Point{Lat: 37.77 + (rng.Float64()-0.5)*0.27, Lon: -122.42 + (rng.Float64()-0.5)*0.34}
			}
			ts := clock.Now().UnixMilli()
			for i := 0; i < n; i++ {
				id := fmt.Sprint("d", i)
				if _, err := e.DriverConnected(ctx, id); err != nil {
					b.Fatal(err)
				}
				p := city()
				if err := e.UpdateLocation(ctx, id, dispatch.Fix{Lat: p.Lat, Lon: p.Lon, TS: ts}); err != nil {
					b.Fatal(err)
				}
			}
			rider := dispatch.Actor{Role: dispatch.RoleRider, ID: "r"}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				r, _, err := e.RequestRide(ctx, "r", dispatch.RideRequest{Pickup: city(), Dropoff: city()}, "")
				if err != nil {
					b.Fatal(err)
				}
				if _, err := e.CancelRide(ctx, rider, r.ID); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			if s := e.Stats(); s.OffersSent < int64(b.N)*9 {
				b.Fatalf("only %d offers for %d rides", s.OffersSent, b.N)
			}
		})
	}
}
