package redis

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/ridehail/dispatch/dispatch"
	"github.com/ridehail/dispatch/geo"
)

// TestNearestMatchesMemory is a property test: the same fixes, availability
// and removals applied to the memory locator and to the Redis locator (part
// flushed, part still pending, as in production) give exactly the same
// Nearest answers: same ids, same raw points, bit-identical distances, in
// the same order. Queries include radii equal to a driver's exact distance
// (where a geohash position would fall either side), the antimeridian, the
// GEO latitude limit (drivers at exactly 85.05112878 and at longitude
// ±180), centres beyond that limit, and unlimited radius.
func TestNearestMatchesMemory(t *testing.T) {
	for _, srv := range servers(t) {
		t.Run(srv.name, func(t *testing.T) {
			ctx := context.Background()
			rng := rand.New(rand.NewPCG(42, 7))
			mem := dispatch.NewMemLocator()
			red := openTest(t, srv.url, Options{}).Locator
			both := func(f func(l dispatch.Locator) error) {
				t.Helper()
				if err := f(mem); err != nil {
					t.Fatal(err)
				}
				if err := f(red); err != nil {
					t.Fatal(err)
				}
			}
			spots := []geo.Point{
				{Lat: 37.7749, Lon: -122.4194}, // a city
				{Lat: 0.0001, Lon: 179.9995},   // the antimeridian
				{Lat: 85.0509, Lon: 15},        // the GEO latitude limit
				{Lat: -85.0509, Lon: -170},
				{Lat: 51.4779, Lon: 0}, // the prime meridian
			}
			const now = int64(1_700_000_000_000)
			place := func(spot geo.Point, spread float64) geo.Point {
				lat := spot.Lat + (rng.Float64()*2-1)*spread
				lat = math.Max(-dispatch.MaxDriverLat, math.Min(dispatch.MaxDriverLat, lat))
				lon := spot.Lon + (rng.Float64()*2-1)*spread/math.Max(0.1, math.Cos(spot.Lat*math.Pi/180))
				if lon > 180 {
					lon -= 360
				} else if lon < -180 {
					lon += 360
				}
				return geo.Point{Lat: lat, Lon: lon}
			}
			var ids []string
			points := map[string]geo.Point{}
			for i := range 700 {
				id := fmt.Sprintf("d%03d", i)
				spot := spots[rng.IntN(len(spots))]
				p := place(spot, 0.05)
				switch i % 25 {
				case 0: // on the GEO latitude limit itself
					p = geo.Point{Lat: dispatch.MaxDriverLat, Lon: place(spots[2], 0.05).Lon}
				case 1:
					p = geo.Point{Lat: -dispatch.MaxDriverLat, Lon: place(spots[3], 0.05).Lon}
				case 2: // on the antimeridian, both spellings
					p = geo.Point{Lat: place(spots[1], 0.05).Lat, Lon: 180}
				case 3:
					p = geo.Point{Lat: place(spots[1], 0.05).Lat, Lon: -180}
				case 4:
					p = spot // several drivers on one point: ties broken by id
				case 5, 6, 7, 8, 9, 10: // a dense crowd, to cut GEOSEARCH's COUNT
					p = place(spots[0], 0.0005)
				}
				seen := now - rng.Int64N(60_000)
				both(func(l dispatch.Locator) error { return l.Update(ctx, id, p, seen) })
				available := rng.IntN(4) != 0
				if m := i % 25; m >= 5 && m <= 10 {
					available = rng.IntN(10) == 0 // a crowd of mostly busy drivers
				}
				if available {
					both(func(l dispatch.Locator) error { return l.SetAvailable(ctx, id, true) })
				}
				ids = append(ids, id)
				points[id] = p
			}
			if _, err := red.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			// Newer fixes for some drivers, left pending; some removals.
			for i, id := range ids {
				if m := i % 25; m >= 5 && m <= 10 && rng.IntN(10) < 7 {
					// Most of the busy crowd moves within it: a dense pending
					// index, so its nearest 4k+20 hits are often not enough.
					p := place(spots[0], 0.0005)
					points[id] = p
					seen := now + rng.Int64N(1000)
					both(func(l dispatch.Locator) error { return l.Update(ctx, id, p, seen) })
					continue
				}
				switch rng.IntN(10) {
				case 0, 1, 2:
					p := place(points[id], 0.01)
					points[id] = p
					seen := now + rng.Int64N(1000)
					both(func(l dispatch.Locator) error { return l.Update(ctx, id, p, seen) })
				case 3:
					both(func(l dispatch.Locator) error { return l.Remove(ctx, id) })
				}
			}
			// Drivers that arrive after the flush, in the busy crowd: known
			// only to the pending index.
			for i := range 150 {
				id := fmt.Sprintf("n%03d", i)
				p := place(spots[0], 0.0005)
				seen := now + rng.Int64N(1000)
				both(func(l dispatch.Locator) error { return l.Update(ctx, id, p, seen) })
				if rng.IntN(10) == 0 {
					both(func(l dispatch.Locator) error { return l.SetAvailable(ctx, id, true) })
				}
				ids = append(ids, id)
				points[id] = p
			}
			if red.Stats().Pending == 0 {
				t.Fatal("no pending fixes: the test must cover the pending index")
			}

			for q := range 400 {
				spot := spots[rng.IntN(len(spots))]
				center := place(spot, 0.06)
				switch q % 8 {
				case 0: // beyond the GEO latitude limit
					center = geo.Point{Lat: 85.06 + rng.Float64()*0.1, Lon: 15}
				case 1: // right at it
					center = place(spots[2], 0.002)
				case 2: // in the busy crowd
					center = place(spots[0], 0.001)
				}
				var radius float64
				switch r := rng.IntN(10); {
				case r < 5: // exactly a driver's distance: the boundary
					radius = geo.Distance(center, points[ids[rng.IntN(len(ids))]])
				case r < 9:
					radius = 50 + rng.Float64()*8000
				default:
					radius = 0 // unlimited
				}
				k := []int{0, 1, 3, 10, 40}[rng.IntN(5)]
				seenAfter := int64(0)
				if rng.IntN(2) == 0 {
					seenAfter = now - rng.Int64N(60_000)
				}
				mod := q % 5
				skip := func(id string) bool { return len(id)%5 == mod && id[len(id)-1]%2 == 0 }
				want, err := mem.Nearest(ctx, center, radius, k, seenAfter, skip)
				if err != nil {
					t.Fatal(err)
				}
				got, err := red.Nearest(ctx, center, radius, k, seenAfter, skip)
				if err != nil {
					t.Fatal(err)
				}
				if fmt.Sprint(got) != fmt.Sprint(want) {
					t.Fatalf("query %d center %v radius %v k %d seenAfter %d:\nredis  %v\nmemory %v", q, center, radius, k, seenAfter, got, want)
				}
				for i := range got {
					if got[i] != want[i] {
						t.Fatalf("query %d result %d: redis %+v memory %+v", q, i, got[i], want[i])
					}
				}
			}
		})
	}
}
