package geo

import (
	"math"
	"math/rand/v2"
	"testing"
)

// FuzzNearest compares Nearest and Count with the brute-force oracle on a
// fleet generated from the fuzzed seed around the fuzzed centre (or one of
// the built-in areas), on one of the test grids.
//
//	go test ./geo -run '^$' -fuzz FuzzNearest -fuzztime 30s
func FuzzNearest(f *testing.F) {
	// lat, lon, radius, k, seenAfter, seed, n, area, grid, filter
	f.Add(10.952859455425, 106.526802369906, 1000.0, int16(10), int64(0), uint64(1), uint16(0), uint8(255), uint8(0), uint8(0))
	f.Add(-16.80, 179.99, 5000.0, int16(10), int64(0), uint64(2), uint16(50), uint8(3), uint8(0), uint8(0))
	f.Add(0.0, 179.9, 100000.0, int16(2), int64(0), uint64(3), uint16(100), uint8(255), uint8(2), uint8(0))
	f.Add(90.0, 0.0, 50000.0, int16(5), int64(10), uint64(4), uint16(200), uint8(1), uint8(1), uint8(3))
	f.Add(-89.9999, -180.0, 1.0, int16(0), int64(0), uint64(5), uint16(200), uint8(2), uint8(4), uint8(0))
	f.Add(37.77, -122.42, 3000.0, int16(10), int64(50), uint64(6), uint16(300), uint8(0), uint8(0), uint8(2))
	f.Add(85.05112878, 180.0, 0.0, int16(1), int64(0), uint64(7), uint16(30), uint8(1), uint8(5), uint8(0))
	f.Add(0.0, 0.0, 20000.0, int16(-3), int64(0), uint64(8), uint16(120), uint8(5), uint8(6), uint8(0))
	f.Add(math.NaN(), 0.0, 100.0, int16(1), int64(0), uint64(9), uint16(10), uint8(0), uint8(0), uint8(0))

	f.Fuzz(func(t *testing.T, lat, lon, radius float64, k int16, seenAfter int64, seed uint64, n uint16, area, gridIdx, filter uint8) {
		rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
		gb := testGrids[int(gridIdx)%len(testGrids)]
		ix := newIndexGrid(gb[0], gb[1])
		s := &scenario{rng: rng, g: ix.grid}
		center := Point{lat, lon}
		if area == 255 || area == 254 {
			if center.Validate() == nil { // the fleet around the fuzzed centre
				s.area, s.span = center, []float64{100, 5000, 60000}[int(area)%3]
			} else {
				s.area, s.span = pickArea(rng, 0)
			}
		} else {
			s.area, s.span = pickArea(rng, int(area))
		}
		fl := s.fleet(ix, int(n%400))
		q := Query{Center: center, Radius: radius, K: int(k), SeenAfter: seenAfter % 128}
		if filter%4 != 0 {
			m := filter%4 + 1
			q.Filter = func(id string) bool { return id[len(id)-1]%m != 0 }
		}
		checkOracle(t, ix, fl, q)
		q.Center = s.point() // and once from a generated centre
		checkOracle(t, ix, fl, q)
	})
}
