package redis

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ridehail/dispatch/dispatch"
	"github.com/ridehail/dispatch/geo"
)

// A 30 x 30 km city around San Francisco.
var benchCity = geo.Point{Lat: 37.7749, Lon: -122.4194}

func cityPoint(rng *rand.Rand) geo.Point {
	const half = 15000.0 // metres
	dLat := (rng.Float64()*2 - 1) * half / 111195
	dLon := (rng.Float64()*2 - 1) * half / (111195 * math.Cos(benchCity.Lat*math.Pi/180))
	return geo.Point{Lat: benchCity.Lat + dLat, Lon: benchCity.Lon + dLon}
}

// BenchmarkUpdate is the ingest hot path: one Update (validate, pending
// index, coalescing map), no Redis round trip, over 100k drivers; the
// memory locator's Update for reference.
func BenchmarkUpdate(b *testing.B) {
	const drivers = 100_000
	ids := make([]string, drivers)
	pts := make([]geo.Point, drivers)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range ids {
		ids[i], pts[i] = fmt.Sprint("d", i), cityPoint(rng)
	}
	ctx := context.Background()
	run := func(b *testing.B, l dispatch.Locator) {
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			j := i % drivers
			if err := l.Update(ctx, ids[j], pts[j], int64(i)); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("redis", func(b *testing.B) { run(b, openTest(b, singleURL(b), Options{}).Locator) })
	b.Run("memory", func(b *testing.B) { run(b, dispatch.NewMemLocator()) })
}

// BenchmarkMirror measures the whole mirror under saturating ingest: a
// writer goroutine sends fixes for 100k drivers (round robin) as fast as
// Update takes them, for the whole benchmark; each op is one flush cycle
// as Backend.Run does it (wait for the 100 ms tick, flush the coalesced
// set). updates/s is the ingest rate, landed/s the fixes written to Redis
// (the latest per driver per flush), pending the backlog left at the end.
func BenchmarkMirror(b *testing.B) {
	l := openTest(b, singleURL(b), Options{}).Locator
	const drivers = 100_000
	ids := make([]string, drivers)
	pts := make([]geo.Point, drivers)
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range ids {
		ids[i], pts[i] = fmt.Sprint("d", i), cityPoint(rng)
	}
	ctx := context.Background()
	var updates atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			if i%1024 == 0 {
				select {
				case <-stop:
					return
				default:
				}
			}
			j := i % drivers
			if err := l.Update(ctx, ids[j], pts[j], int64(i)); err != nil {
				b.Error(err)
				return
			}
			updates.Add(1)
		}
	}()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	landed := 0
	b.ReportAllocs()
	b.ResetTimer()
	u0 := updates.Load()
	for i := 0; i < b.N; i++ {
		<-tick.C
		n, err := l.Flush(ctx)
		if err != nil {
			b.Fatal(err)
		}
		landed += n
	}
	b.StopTimer()
	u := updates.Load() - u0
	close(stop)
	wg.Wait()
	secs := b.Elapsed().Seconds()
	b.ReportMetric(float64(u)/secs, "updates/s")
	b.ReportMetric(float64(landed)/secs, "landed/s")
	b.ReportMetric(float64(l.Stats().Pending), "pending")
}

// BenchmarkFlush is the mirror's raw capacity: each op flushes 10k
// distinct pending fixes (one pipeline of ten scripts).
func BenchmarkFlush(b *testing.B) {
	l := openTest(b, singleURL(b), Options{}).Locator
	const batch = 10_000
	ids := make([]string, 100_000)
	rng := rand.New(rand.NewPCG(5, 6))
	for i := range ids {
		ids[i] = fmt.Sprint("d", i)
	}
	ctx := context.Background()
	landed := 0
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		for j := range batch {
			if err := l.Update(ctx, ids[(i*batch+j)%len(ids)], cityPoint(rng), int64(i)); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
		n, err := l.Flush(ctx)
		if err != nil {
			b.Fatal(err)
		}
		landed += n
	}
	b.ReportMetric(float64(landed)/b.Elapsed().Seconds(), "fixes/s")
}

// BenchmarkNearest: k=10 within 3 km among 100k available drivers in a
// 30 x 30 km city, every fix in Redis (another node's view), on a single
// Redis and on the Cluster; the memory locator for reference.
func BenchmarkNearest(b *testing.B) {
	const drivers = 100_000
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(7, 8))
	ids := make([]string, drivers)
	pts := make([]geo.Point, drivers)
	for i := range ids {
		ids[i], pts[i] = fmt.Sprint("d", i), cityPoint(rng)
	}
	now := time.Now().UnixMilli()
	centers := make([]geo.Point, 1024)
	for i := range centers {
		centers[i] = cityPoint(rng)
	}
	run := func(b *testing.B, l dispatch.Locator) {
		b.ReportAllocs()
		b.ResetTimer()
		found := 0
		for i := 0; i < b.N; i++ {
			got, err := l.Nearest(ctx, centers[i%len(centers)], 3000, 10, now-30_000, nil)
			if err != nil {
				b.Fatal(err)
			}
			found += len(got)
		}
		b.ReportMetric(float64(found)/float64(b.N), "found/op")
	}
	for _, srv := range servers(b) {
		writer := openTest(b, srv.url, Options{})
		for i := range ids {
			if err := writer.Locator.Update(ctx, ids[i], pts[i], now); err != nil {
				b.Fatal(err)
			}
		}
		if _, err := writer.Locator.Flush(ctx); err != nil {
			b.Fatal(err)
		}
		for i := 0; i < drivers; i += 10_000 {
			members := make([]any, 0, 10_000)
			for _, id := range ids[i:min(i+10_000, drivers)] {
				members = append(members, id)
			}
			if err := writer.Client.SAdd(ctx, writer.Locator.k.avail(), members...).Err(); err != nil {
				b.Fatal(err)
			}
		}
		reader := openTest(b, srv.url, Options{Region: writer.opt.Region}).Locator
		b.Run("redis-"+srv.name, func(b *testing.B) { run(b, reader) })
	}
	mem := dispatch.NewMemLocator()
	for i := range ids {
		_ = mem.Update(ctx, ids[i], pts[i], now)
		_ = mem.SetAvailable(ctx, ids[i], true)
	}
	b.Run("memory", func(b *testing.B) { run(b, mem) })
}
