package geo

import "math"

// Default cell size: geohash precision 7 (35 bits: 17 latitude bits and 18
// longitude bits), cells 1.373e-3 degrees square, i.e. 152.9 m tall and
// 152.9 m * cos(lat) wide (121 m in San Francisco). See docs/decisions.md
// for the measurements behind the choice.
const (
	defaultLatBits = 17
	defaultLonBits = 18
)

// grid is the lat/lon bit grid of integer geohashes at a fixed precision:
// row r and column c are the de-interleaved latitude and longitude bits of
// the geohash, so cell (r, c) covers latitudes [latOf(r), latOf(r+1)] and
// longitudes [lonOf(c), lonOf(c+1)]. Unlike geohash.EncodeInt it is defined
// on the closed ranges: latitude 90 falls in the top row and longitude 180
// in column 0 (the same meridian as -180).
type grid struct {
	latBits, lonBits uint
	rows, cols       int64   // 1<<latBits, 1<<lonBits
	dLat, dLon       float64 // cell size in degrees
}

func newGrid(latBits, lonBits uint) grid {
	rows, cols := int64(1)<<latBits, int64(1)<<lonBits
	return grid{
		latBits: latBits, lonBits: lonBits,
		rows: rows, cols: cols,
		dLat: 180 / float64(rows), dLon: 360 / float64(cols),
	}
}

// cellOf returns the row and column holding (lat, lon), a valid point.
// The arithmetic is geohash's own ((x+r)/2r scaled by a power of two, then
// truncated), so away from lat 90 / lon 180 the cell is the geohash cell.
func (g grid) cellOf(lat, lon float64) (r, c int64) {
	r = int64((lat + 90) / 180 * float64(g.rows))
	if r >= g.rows {
		r = g.rows - 1
	} else if r < 0 {
		r = 0
	}
	c = int64((lon + 180) / 360 * float64(g.cols))
	if c >= g.cols {
		if lon == 180 {
			c = 0 // lon 180 is lon -180
		} else {
			c = g.cols - 1 // (lon+180)/360 rounded up to 1
		}
	} else if c < 0 {
		c = 0
	}
	return r, c
}

// latOf returns the southern edge of row r in degrees.
func (g grid) latOf(r int64) float64 { return float64(r)*g.dLat - 90 }

// lonOf returns the western edge of column c in degrees; c may lie outside
// [0, cols) while walking across the antimeridian.
func (g grid) lonOf(c int64) float64 { return float64(c)*g.dLon - 180 }

// wrapCol maps an unwrapped column into [0, cols).
func (g grid) wrapCol(c int64) int64 { return c & (g.cols - 1) }

// cellKey packs a cell into a map key.
func cellKey(r, c int64) uint64 { return uint64(r)<<32 | uint64(c) }

// cellRowCol unpacks cellKey.
func cellRowCol(k uint64) (r, c int64) { return int64(k >> 32), int64(k & 0xffffffff) }

// Lower bounds. Every bound below is a distance in metres that no point of
// the described region can be nearer than, minus slack for rounding (see
// loosen). They rest on two facts about the sphere:
//   - a point at latitude phi is at least R*|phi-phi0| from the centre
//     (haversine's first term alone);
//   - to reach a point outside a lune between two meridians one must cross
//     one of them, and the distance from the centre to the great circle of
//     a meridian Dlon away is R*asin(cos(phi0)*sin(Dlon)) for Dlon <= 90
//     degrees; for Dlon >= 90 the nearest point of the half meridian is a
//     pole, R*(90-|phi0|), which the same formula gives at Dlon = 90.

// latGap returns the minimum distance in metres from latitude lat0 to any
// point whose latitude differs by at least dDeg degrees.
func latGap(dDeg float64) float64 {
	if dDeg <= 0 {
		return 0
	}
	return dDeg * degToRad * EarthRadius
}

// lonGap returns the minimum distance in metres from a point whose cos(lat)
// is cos0 to the meridian dDeg degrees away (any sign, any number of turns).
func lonGap(cos0, dDeg float64) float64 {
	d := math.Mod(dDeg, 360)
	if d < 0 {
		d += 360
	}
	d = min(d, 360-d)
	if d >= 90 {
		d = 90
	}
	s := cos0 * math.Sin(d*degToRad)
	if s >= 1 {
		return math.Pi / 2 * EarthRadius
	}
	return EarthRadius * math.Asin(s)
}

// loosen lowers a bound to absorb rounding: cell assignment and edge
// positions are exact to ~1e-14 degrees, and haversine loses up to ~0.1 m
// near antipodes (asin near 1). One metre plus 1e-9 relative covers both by
// far and costs nothing measurable.
func loosen(b float64) float64 { return b - 1 - b*1e-9 }
