package geo

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// City for benchmarks: 30 x 30 km around San Francisco, drivers uniform.
var benchCity = Point{37.77, -122.42}

const benchHalfSide = 15000.0 // metres

var benchSizes = []int{10_000, 100_000, 1_000_000}

// benchFleet is a built index plus the raw data, cached per size so the
// 1M fleet is built once per `go test` process, not once per b.N round.
type benchFleet struct {
	ix      *Index
	ids     []string
	pts     []Point
	centers []Point // query centres
	steps   []uint8 // per driver: updates so far, for moved
}

var (
	benchMu     sync.Mutex
	benchFleets = map[int]*benchFleet{}
)

func cityPoint(rng *rand.Rand) Point {
	dLat := benchHalfSide / EarthRadius / degToRad
	dLon := dLat / math.Cos(benchCity.Lat*degToRad)
	return Point{
		Lat: benchCity.Lat + (rng.Float64()*2-1)*dLat,
		Lon: benchCity.Lon + (rng.Float64()*2-1)*dLon,
	}
}

func getBenchFleet(b *testing.B, n int) *benchFleet {
	b.Helper()
	benchMu.Lock()
	defer benchMu.Unlock()
	if f := benchFleets[n]; f != nil {
		return f
	}
	rng := rand.New(rand.NewPCG(uint64(n), 7))
	f := &benchFleet{ix: benchIndex(b), ids: make([]string, n), pts: make([]Point, n), steps: make([]uint8, n)}
	for i := range n {
		f.ids[i] = "driver-" + strconv.Itoa(i)
		f.pts[i] = cityPoint(rng)
		if err := f.ix.Upsert(f.ids[i], f.pts[i], 0); err != nil {
			b.Fatal(err)
		}
	}
	for range 1024 {
		f.centers = append(f.centers, cityPoint(rng))
	}
	benchFleets[n] = f
	return f
}

// benchIndex returns NewIndex(), or with GEO_BENCH_BITS=lat,lon an index on
// another grid, to compare cell sizes.
func benchIndex(b *testing.B) *Index {
	v := os.Getenv("GEO_BENCH_BITS")
	if v == "" {
		return NewIndex()
	}
	var lat, lon uint
	if _, err := fmt.Sscanf(v, "%d,%d", &lat, &lon); err != nil {
		b.Fatalf("GEO_BENCH_BITS=%q: %v", v, err)
	}
	return newIndexGrid(lat, lon)
}

func sizeName(n int) string {
	switch {
	case n >= 1_000_000:
		return fmt.Sprintf("n=%dM", n/1_000_000)
	case n >= 1000:
		return fmt.Sprintf("n=%dk", n/1000)
	}
	return fmt.Sprintf("n=%d", n)
}

// moveStep is how far a position update moves a driver: 5 m north-south.
const moveStep = 5 / EarthRadius / degToRad

// moved returns driver j's next position: every update walks it one 5 m
// side further around a small square (N, E, S, W), so each update is a
// real move, about 4% of them into another cell, and the fleet stays put.
func (f *benchFleet) moved(j int) Point {
	f.steps[j]++
	p := f.pts[j]
	switch f.steps[j] & 3 {
	case 1:
		p.Lat += moveStep
	case 2:
		p.Lat += moveStep
		p.Lon += moveStep / math.Cos(p.Lat*degToRad)
	case 3:
		p.Lon += moveStep / math.Cos(p.Lat*degToRad)
	}
	return p
}

// BenchmarkUpsertMove moves an existing driver 5 m, drivers taken in a
// scattered order (as fixes arrive from the fleet).
func BenchmarkUpsertMove(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(sizeName(n), func(b *testing.B) {
			f := getBenchFleet(b, n)
			const stride = 7919 // prime: visits drivers out of order
			j := 0
			for i := 0; b.Loop(); i++ {
				j += stride
				if j >= n {
					j -= n
				}
				if err := f.ix.Upsert(f.ids[j], f.moved(j), int64(i)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkUpsertInsert adds new drivers to a growing index (what building
// the fleets costs per driver, id allocation included).
func BenchmarkUpsertInsert(b *testing.B) {
	ix := NewIndex()
	rng := rand.New(rand.NewPCG(1, 1))
	var buf [24]byte
	for i := 0; b.Loop(); i++ {
		id := string(strconv.AppendInt(append(buf[:0], "new-"...), int64(i), 10))
		if err := ix.Upsert(id, cityPoint(rng), 0); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkUpsertMoveParallel is BenchmarkUpsertMove from GOMAXPROCS
// goroutines at once, each on its own drivers: write-lock contention.
func BenchmarkUpsertMoveParallel(b *testing.B) {
	f := getBenchFleet(b, 100_000)
	benchParallel(b, f, 0, f.ix.Upsert, f.ix.Nearest)
}

// BenchmarkNearest10Within3km asks for the 10 nearest within 3 km from
// random points in the city, reusing the result buffer.
func BenchmarkNearest10Within3km(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(sizeName(n), func(b *testing.B) {
			f := getBenchFleet(b, n)
			dst := make([]Hit, 0, 16)
			for i := 0; b.Loop(); i++ {
				dst = f.ix.Nearest(Query{Center: f.centers[i&1023], Radius: 3000, K: 10}, dst)
				if len(dst) != 10 {
					b.Fatalf("got %d hits", len(dst))
				}
			}
		})
	}
}

// BenchmarkNearest10Filtered is Nearest10Within3km with a Filter that
// rejects 90% of drivers (most are busy), so the search must widen.
func BenchmarkNearest10Filtered(b *testing.B) {
	f := getBenchFleet(b, 100_000)
	dst := make([]Hit, 0, 16)
	filter := func(id string) bool { return id[len(id)-1] == '7' }
	for i := 0; b.Loop(); i++ {
		dst = f.ix.Nearest(Query{Center: f.centers[i&1023], Radius: 3000, K: 10, Filter: filter}, dst)
	}
}

// BenchmarkCount3km counts drivers within 3 km (surge supply).
func BenchmarkCount3km(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(sizeName(n), func(b *testing.B) {
			f := getBenchFleet(b, n)
			for i := 0; b.Loop(); i++ {
				if f.ix.Count(f.centers[i&1023], 3000, 0) == 0 {
					b.Fatal("empty")
				}
			}
		})
	}
}

// BenchmarkBruteForce10Within3km is the reference: the same query as
// BenchmarkNearest10Within3km answered by scanning every driver.
func BenchmarkBruteForce10Within3km(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(sizeName(n), func(b *testing.B) {
			f := getBenchFleet(b, n)
			s := &search{k: 10, radius: 3000, hits: make([]Hit, 0, 16)}
			for i := 0; b.Loop(); i++ {
				c := f.centers[i&1023]
				s.hits = s.hits[:0]
				for j, p := range f.pts {
					if d := Distance(c, p); d <= s.limit() {
						s.offer(Hit{ID: f.ids[j], Point: p, Distance: d})
					}
				}
				if len(s.hits) != 10 {
					b.Fatal("short")
				}
			}
		})
	}
}

// BenchmarkMixedParallel runs one Nearest per 10 Upserts from every
// goroutine: the ingest-plus-dispatch load the lock must carry.
func BenchmarkMixedParallel(b *testing.B) {
	f := getBenchFleet(b, 100_000)
	benchParallel(b, f, 11, f.ix.Upsert, f.ix.Nearest)
}

// benchParallel runs upserts from GOMAXPROCS goroutines, each on its own
// slice of the drivers, with a nearest-10 query every queryEvery-th
// operation (never if 0).
func benchParallel(b *testing.B, f *benchFleet, queryEvery int, upsert func(string, Point, int64) error, nearest func(Query, []Hit) []Hit) {
	var mu sync.Mutex
	worker := 0
	workers := runtime.GOMAXPROCS(0) // RunParallel's default parallelism
	b.ResetTimer()                   // building the fleet is not the benchmark
	b.RunParallel(func(pb *testing.PB) {
		mu.Lock()
		w := worker
		worker++
		mu.Unlock()
		lo, hi := w*len(f.ids)/workers, (w+1)*len(f.ids)/workers
		if w >= workers {
			lo, hi = 0, 0
		}
		n := hi - lo
		dst := make([]Hit, 0, 16)
		j := 0
		for i := 0; pb.Next(); i++ {
			if queryEvery > 0 && i%queryEvery == queryEvery-1 || n == 0 {
				dst = nearest(Query{Center: f.centers[i&1023], Radius: 3000, K: 10}, dst)
				continue
			}
			j += 7919
			for j >= n {
				j -= n
			}
			_ = upsert(f.ids[lo+j], f.moved(lo+j), int64(i))
		}
	})
}

// BenchmarkMapFloor is the irreducible part of an update on this machine:
// one lookup in a map[string]*T of n ids plus one write through the
// pointer, in the same scattered order as BenchmarkUpsertMove.
func BenchmarkMapFloor(b *testing.B) {
	type rec struct {
		lat, lon float64
		seen     int64
	}
	for _, n := range benchSizes {
		b.Run(sizeName(n), func(b *testing.B) {
			f := getBenchFleet(b, n)
			m := make(map[string]*rec, n)
			for i, id := range f.ids {
				m[strings.Clone(id)] = &rec{lat: f.pts[i].Lat}
			}
			j := 0
			for i := 0; b.Loop(); i++ {
				j += 7919
				if j >= n {
					j -= n
				}
				p := f.moved(j)
				r := m[f.ids[j]]
				r.lat, r.lon, r.seen = p.Lat, p.Lon, int64(i)
			}
		})
	}
}
