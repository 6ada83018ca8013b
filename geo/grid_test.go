package geo

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/mmcloughlin/geohash"
)

// TestGridIsGeohash checks that the index's cells are geohash cells: for
// random points the cell's edges are the geohash bounding box at the same
// precision, and the (row, column) pair is the de-interleaved geohash.
func TestGridIsGeohash(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, gb := range [][2]uint{{defaultLatBits, defaultLonBits}, {15, 15}, {10, 10}, {2, 3}} {
		g := newGrid(gb[0], gb[1])
		bits := gb[0] + gb[1]
		for range 10000 {
			lat, lon := rng.Float64()*180-90, rng.Float64()*360-180
			r, c := g.cellOf(lat, lon)
			box := geohash.BoundingBoxIntWithPrecision(geohash.EncodeIntWithPrecision(lat, lon, bits), bits)
			if box.MinLat != g.latOf(r) || box.MaxLat != g.latOf(r+1) || box.MinLng != g.lonOf(c) || box.MaxLng != g.lonOf(c+1) {
				t.Fatalf("grid %v: (%v, %v) in cell [%v %v]x[%v %v], geohash box %+v",
					gb, lat, lon, g.latOf(r), g.latOf(r+1), g.lonOf(c), g.lonOf(c+1), box)
			}
		}
	}
	// Precision 7 is the default: 7 characters of 5 bits.
	if defaultLatBits+defaultLonBits != 7*5 {
		t.Fatal("default grid is not geohash precision 7")
	}
	p := Point{37.7749, -122.4194}
	g := newGrid(defaultLatBits, defaultLonBits)
	r, c := g.cellOf(p.Lat, p.Lon)
	box := geohash.BoundingBox(geohash.EncodeWithPrecision(p.Lat, p.Lon, 7))
	if box.MinLat != g.latOf(r) || box.MinLng != g.lonOf(c) {
		t.Errorf("precision-7 geohash box %+v, grid cell at (%v, %v)", box, g.latOf(r), g.lonOf(c))
	}
}

// TestGridClosedRanges checks the values geohash's integer encoding cannot
// represent (lat 90, lon 180 overflow its 32-bit ranges).
func TestGridClosedRanges(t *testing.T) {
	g := newGrid(defaultLatBits, defaultLonBits)
	if r, _ := g.cellOf(90, 0); r != g.rows-1 {
		t.Errorf("lat 90 in row %d, want the top row %d", r, g.rows-1)
	}
	if r, _ := g.cellOf(-90, 0); r != 0 {
		t.Errorf("lat -90 in row %d", r)
	}
	if _, c := g.cellOf(0, 180); c != 0 {
		t.Errorf("lon 180 in column %d, want 0 (the -180 meridian)", c)
	}
	if _, c := g.cellOf(0, math.Nextafter(180, 0)); c != g.cols-1 {
		t.Errorf("lon just below 180 in column %d", c)
	}
	if _, c := g.cellOf(0, -180); c != 0 {
		t.Errorf("lon -180 in column %d", c)
	}
}

func TestLonGap(t *testing.T) {
	// A point on the equator is exactly Dlon from a meridian.
	for _, d := range []float64{0, 0.001, 1, 45, 89.9} {
		want := d * degToRad * EarthRadius
		if got := lonGap(1, d); math.Abs(got-want) > 1e-6*want+1e-9 {
			t.Errorf("lonGap(1, %v) = %v, want %v", d, got, want)
		}
		if got := lonGap(1, -d); math.Abs(got-want) > 1e-6*want+1e-9 {
			t.Errorf("lonGap(1, %v) = %v, want %v", -d, got, want)
		}
	}
	// Beyond 90 degrees the nearest point of the half meridian is a pole.
	phi := 60.0
	want := (90 - phi) * degToRad * EarthRadius
	for _, d := range []float64{90, 120, 180, 270} {
		if got := lonGap(cosLat(phi), d); math.Abs(got-want) > 1e-6 {
			t.Errorf("lonGap(cos 60, %v) = %v, want %v", d, got, want)
		}
	}
	// 350 degrees east is 10 degrees west.
	if a, b := lonGap(0.5, 350), lonGap(0.5, 10); math.Abs(a-b) > 1e-6 {
		t.Errorf("lonGap(350) = %v, lonGap(10) = %v", a, b)
	}
	// On a pole every meridian passes through the point.
	if got := lonGap(0, 30); got != 0 {
		t.Errorf("lonGap at the pole = %v", got)
	}
}

// TestLowerBoundsHold samples points and checks the two facts the search
// rests on against Distance itself.
func TestLowerBoundsHold(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for range 200000 {
		a := Point{rng.Float64()*180 - 90, rng.Float64()*360 - 180}
		b := Point{rng.Float64()*180 - 90, rng.Float64()*360 - 180}
		if rng.IntN(2) == 0 { // and close pairs
			b = clampPoint(Point{a.Lat + rng.NormFloat64()*0.01, a.Lon + rng.NormFloat64()*0.01})
		}
		d := Distance(a, b)
		if lb := latGap(math.Abs(a.Lat - b.Lat)); loosen(lb) > d {
			t.Fatalf("latitude bound %v > Distance(%v, %v) = %v", lb, a, b, d)
		}
		// b lies beyond the meridian through b itself, seen from a.
		if lb := lonGap(cosLat(a.Lat), b.Lon-a.Lon); loosen(lb) > d {
			t.Fatalf("longitude bound %v > Distance(%v, %v) = %v", lb, a, b, d)
		}
	}
}
