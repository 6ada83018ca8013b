package dispatch_test

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ridehail/dispatch/dispatch"
	"github.com/ridehail/dispatch/geo"
)

// ingestFleet is an engine (wall clock, embedded backends) with n
// connected drivers spread over a 30 × 30 km city, each with one fix.
func ingestFleet(b *testing.B, n int) (*dispatch.Engine, []string, []geo.Point) {
	b.Helper()
	e, err := dispatch.New(dispatch.Config{}, dispatch.Deps{})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(1, 2))
	ids := make([]string, n)
	pos := make([]geo.Point, n)
	ts := time.Now().UnixMilli()
	for i := range ids {
		ids[i] = fmt.Sprint("d", i)
		pos[i] = geo.Point{Lat: 37.77 + (rng.Float64()-0.5)*0.27, Lon: -122.42 + (rng.Float64()-0.5)*0.34}
		if _, err := e.DriverConnected(ctx, ids[i]); err != nil {
			b.Fatal(err)
		}
		if err := e.UpdateLocation(ctx, ids[i], dispatch.Fix{Lat: pos[i].Lat, Lon: pos[i].Lon, TS: ts}); err != nil {
			b.Fatal(err)
		}
	}
	return e, ids, pos
}

// BenchmarkUpdateLocation measures the location ingest hot path,
// Engine.UpdateLocation on the embedded backends, with 100k connected
// drivers: validation, the per-driver track (stale and jump checks), the
// geohash index move and the counters. Each fix moves a driver about ten
// metres, round robin over the fleet, so most fixes stay in their cell
// and some cross into the next. "Parallel" runs it on every P, as the
// connections' reader goroutines do.
func BenchmarkUpdateLocation(b *testing.B) {
	const n = 100_000
	e, ids, pos := ingestFleet(b, n)
	ctx := context.Background()
	move := func(i int) dispatch.Fix {
		p := &pos[i]
		p.Lat += 0.0001 * float64(i%3-1)
		p.Lon += 0.0001 * float64(i%5-2)
		return dispatch.Fix{Lat: p.Lat, Lon: p.Lon, TS: time.Now().UnixMilli()}
	}
	b.Run("serial", func(b *testing.B) {
		before := e.Stats().FixesAccepted
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			k := i % n
			if err := e.UpdateLocation(ctx, ids[k], move(k)); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		if got := e.Stats().FixesAccepted - before; got != int64(b.N) {
			b.Fatalf("%d fixes accepted of %d", got, b.N)
		}
	})
	b.Run("parallel", func(b *testing.B) {
		// Each goroutine owns a disjoint stripe of drivers, as each
		// driver has one connection.
		var next atomic.Int64
		before := e.Stats().FixesAccepted
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			const stripes = 64
			stripe := int(next.Add(1)-1) % stripes
			for j := 0; pb.Next(); j++ {
				k := stripe + stripes*(j%(n/stripes))
				p := &pos[k]
				p.Lat += 0.0001 * float64(j%3-1)
				if err := e.UpdateLocation(ctx, ids[k], dispatch.Fix{Lat: p.Lat, Lon: p.Lon, TS: time.Now().UnixMilli()}); err != nil {
					b.Error(err)
					return
				}
			}
		})
		b.StopTimer()
		if got := e.Stats().FixesAccepted - before; got != int64(b.N) {
			b.Fatalf("%d fixes accepted of %d", got, b.N)
		}
	})
}

// TestUpdateLocation_JitterBoundary checks the jump check's decision at
// the jitter radius, where its cheap bound hands over to the great-circle
// distance: a second fix with the same ts is accepted exactly when it lies
// within GPSJitterM (100 m) of the first, by geo.Distance, at any latitude
// and across the antimeridian.
func TestUpdateLocation_JitterBoundary(t *testing.T) {
	e, err := dispatch.New(dispatch.Config{}, dispatch.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(3, 4))
	ts := time.Now().UnixMilli()
	accepted, rejected := 0, 0
	for i := range 4000 {
		a := geo.Point{Lat: (rng.Float64()*2 - 1) * 80, Lon: (rng.Float64()*2 - 1) * 180}
		if i%4 == 0 {
			a.Lon = 179.9995 // next to the antimeridian
		}
		// b at 99.5 to 100.5 m, north-east-ish of a, in degrees.
		d := 99.5 + rng.Float64()
		brg := rng.Float64() * 2 * math.Pi
		dLat := d * math.Cos(brg) / geo.EarthRadius * 180 / math.Pi
		dLon := d * math.Sin(brg) / (geo.EarthRadius * math.Cos(a.Lat*math.Pi/180)) * 180 / math.Pi
		b := geo.Point{Lat: a.Lat + dLat, Lon: a.Lon + dLon}
		if b.Lon > 180 {
			b.Lon -= 360
		}
		id := fmt.Sprint("j", i)
		if err := e.UpdateLocation(ctx, id, dispatch.Fix{Lat: a.Lat, Lon: a.Lon, TS: ts}); err != nil {
			t.Fatal(err)
		}
		err := e.UpdateLocation(ctx, id, dispatch.Fix{Lat: b.Lat, Lon: b.Lon, TS: ts})
		want := geo.Distance(a, b) <= 100
		if (err == nil) != want {
			t.Fatalf("%v -> %v (%.4f m): error %v, want accepted %v", a, b, geo.Distance(a, b), err, want)
		}
		if want {
			accepted++
		} else {
			rejected++
		}
	}
	if accepted < 1000 || rejected < 1000 {
		t.Fatalf("%d accepted, %d rejected: the cases do not straddle the boundary", accepted, rejected)
	}
}
