package geo

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// fix is one entry as the oracle sees it.
type fix struct {
	p    Point
	seen int64
}

// bruteNearest is the oracle: a scan of every entry.
func bruteNearest(fleet map[string]fix, q Query) []Hit {
	if q.Center.Validate() != nil {
		return nil
	}
	var out []Hit
	for id, f := range fleet {
		if f.seen < q.SeenAfter {
			continue
		}
		d := Distance(q.Center, f.p)
		if q.Radius > 0 && d > q.Radius {
			continue
		}
		if q.Filter != nil && !q.Filter(id) {
			continue
		}
		out = append(out, Hit{ID: id, Point: f.p, Distance: d, Seen: f.seen})
	}
	slices.SortFunc(out, hitCmp)
	if q.K > 0 && len(out) > q.K {
		out = out[:q.K]
	}
	return out
}

// checkOracle compares Nearest and Count with the oracle.
func checkOracle(tb testing.TB, ix *Index, fleet map[string]fix, q Query) {
	tb.Helper()
	want := bruteNearest(fleet, q)
	got := ix.Nearest(q, nil)
	if !slices.Equal(got, want) {
		tb.Fatalf("Nearest mismatch on grid %d/%d, fleet %d, query center=%v radius=%v K=%d seenAfter=%d filter=%t\n got  %d: %s\n want %d: %s",
			ix.grid.latBits, ix.grid.lonBits, len(fleet), q.Center, q.Radius, q.K, q.SeenAfter, q.Filter != nil,
			len(got), fmtHits(got), len(want), fmtHits(want))
	}
	if q.Filter == nil && q.K <= 0 {
		if n := ix.Count(q.Center, q.Radius, q.SeenAfter); n != len(want) {
			tb.Fatalf("Count(%v, %v, %d) = %d, want %d", q.Center, q.Radius, q.SeenAfter, n, len(want))
		}
	}
}

func fmtHits(h []Hit) string {
	const max = 12
	s := ""
	for i, x := range h {
		if i == max {
			return s + "..."
		}
		s += fmt.Sprintf("%s@%.6f(%v) ", x.ID, x.Distance, x.Point)
	}
	return s
}

// grids used by the property tests: the production one and coarser ones,
// where a 50 km query spans many rings, wraps and reaches poles.
var testGrids = [][2]uint{{defaultLatBits, defaultLonBits}, {15, 15}, {12, 13}, {8, 8}, {4, 5}, {1, 1}, {0, 0}}

// scenario generates fleets and queries around one kind of place.
type scenario struct {
	rng  *rand.Rand
	g    grid
	area Point   // centre of the action
	span float64 // metres
}

// areas: a city, both polar caps, the antimeridian, null island, anywhere.
func pickArea(rng *rand.Rand, kind int) (Point, float64) {
	spans := []float64{30, 500, 5000, 30000, 150000}
	span := spans[rng.IntN(len(spans))]
	switch kind % 7 {
	case 0:
		return Point{37.77, -122.42}, span
	case 1:
		return Point{85 + rng.Float64()*5, rng.Float64()*360 - 180}, span
	case 2:
		return Point{-85 - rng.Float64()*5, rng.Float64()*360 - 180}, span
	case 3:
		return Point{rng.Float64()*170 - 85, 180 - rng.Float64()*0.01}, span
	case 4:
		return Point{rng.Float64()*170 - 85, -180 + rng.Float64()*0.01}, span
	case 5:
		return Point{0, 0}, span
	default:
		return Point{rng.Float64()*180 - 90, rng.Float64()*360 - 180}, span
	}
}

// point returns a point near the area: jittered, or exactly on a cell edge
// or corner, or on a pole or the antimeridian.
func (s *scenario) point() Point {
	p := s.jitter(s.area, s.span)
	switch s.rng.IntN(10) {
	case 0: // a cell corner
		r, c := s.g.cellOf(p.Lat, p.Lon)
		p = Point{s.g.latOf(r), s.g.lonOf(c)}
	case 1: // a horizontal edge
		r, _ := s.g.cellOf(p.Lat, p.Lon)
		p.Lat = s.g.latOf(r + int64(s.rng.IntN(2)))
	case 2: // a vertical edge
		_, c := s.g.cellOf(p.Lat, p.Lon)
		p.Lon = s.g.lonOf(c + int64(s.rng.IntN(2)))
	case 3: // the extremes
		switch s.rng.IntN(4) {
		case 0:
			p.Lat = 90
		case 1:
			p.Lat = -90
		case 2:
			p.Lon = 180
		default:
			p.Lon = -180
		}
	}
	return clampPoint(p)
}

// jitter moves p by up to span metres in a random direction (roughly).
func (s *scenario) jitter(p Point, span float64) Point {
	d := span * math.Pow(s.rng.Float64(), 2) / EarthRadius / degToRad
	a := s.rng.Float64() * 2 * math.Pi
	lat := p.Lat + d*math.Sin(a)
	lon := p.Lon + d*math.Cos(a)/math.Max(math.Cos(p.Lat*degToRad), 0.01)
	return clampPoint(Point{lat, lon})
}

func clampPoint(p Point) Point {
	p.Lat = min(max(p.Lat, -90), 90)
	if p.Lon > 180 || p.Lon < -180 {
		p.Lon = math.Mod(p.Lon+540, 360) - 180
	}
	p.Lon = min(max(p.Lon, -180), 180)
	return p
}

// fleet builds an index and its oracle copy, with moves and removals.
func (s *scenario) fleet(ix *Index, n int) map[string]fix {
	fl := make(map[string]fix, n)
	for i := range n {
		id := fmt.Sprintf("d%03d", i)
		var p Point
		if i > 0 && s.rng.IntN(8) == 0 { // share a position: ties by ID
			p = fl[fmt.Sprintf("d%03d", s.rng.IntN(i))].p
		} else {
			p = s.point()
		}
		f := fix{p, s.rng.Int64N(100)}
		if err := ix.Upsert(id, f.p, f.seen); err != nil {
			panic(err)
		}
		fl[id] = f
	}
	for id := range fl {
		switch s.rng.IntN(6) {
		case 0:
			ix.Remove(id)
			delete(fl, id)
		case 1:
			f := fix{s.point(), s.rng.Int64N(100)}
			if err := ix.Upsert(id, f.p, f.seen); err != nil {
				panic(err)
			}
			fl[id] = f
		}
	}
	return fl
}

// query returns a random query near the area.
func (s *scenario) query(fl map[string]fix) Query {
	q := Query{Center: s.point()}
	if len(fl) > 0 && s.rng.IntN(5) == 0 { // exactly on an entry
		for _, f := range fl {
			q.Center = f.p
			break
		}
	}
	switch s.rng.IntN(8) {
	case 0:
		q.Radius = 0
	case 1:
		q.Radius = 1
	default:
		q.Radius = math.Exp(s.rng.Float64() * math.Log(50000)) // 1 m .. 50 km
	}
	ks := []int{0, 1, 2, 3, 5, 10, 50, len(fl), len(fl) + 1}
	q.K = ks[s.rng.IntN(len(ks))]
	if s.rng.IntN(2) == 0 {
		q.SeenAfter = s.rng.Int64N(100)
	}
	if s.rng.IntN(3) == 0 {
		m := byte(s.rng.IntN(3) + 2)
		q.Filter = func(id string) bool { return id[len(id)-1]%m != 0 }
	}
	return q
}

func TestNearestMatchesBruteForce(t *testing.T) {
	trials := 1500
	if testing.Short() || raceEnabled {
		trials = 250
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := range trials {
		gb := testGrids[trial%len(testGrids)]
		ix := newIndexGrid(gb[0], gb[1])
		area, span := pickArea(rng, trial/len(testGrids))
		s := &scenario{rng: rng, g: ix.grid, area: area, span: span}
		fl := s.fleet(ix, rng.IntN(200))
		checkInvariants(t, ix)
		for range 20 {
			checkOracle(t, ix, fl, s.query(fl))
		}
	}
}
