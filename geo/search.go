package geo

import (
	"cmp"
	"math"
	"slices"
)

// Query selects entries for Index.Nearest.
type Query struct {
	// Center is the point distances are measured from. An invalid Center
	// matches nothing.
	Center Point
	// Radius in metres; entries farther than Radius are excluded. Radius
	// <= 0 (or NaN, or +Inf) means unlimited.
	Radius float64
	// K caps the number of hits; K <= 0 returns every match.
	K int
	// SeenAfter excludes entries whose fix is older: only Seen >= SeenAfter
	// match.
	SeenAfter int64
	// Filter, when not nil, must return true for an id to match. It is
	// called under the index's read lock, for some subset of the entries
	// (those that passed the other criteria and could still make the
	// result), in no particular order. It must not call back into the
	// Index and should be fast.
	Filter func(id string) bool
}

// Hit is one result of Index.Nearest.
type Hit struct {
	ID       string
	Point    Point
	Distance float64 // metres from Query.Center, exactly Distance(Center, Point)
	Seen     int64
}

// hitCmp orders hits by (Distance, ID) ascending.
func hitCmp(a, b Hit) int {
	if c := cmp.Compare(a.Distance, b.Distance); c != 0 {
		return c
	}
	return cmp.Compare(a.ID, b.ID)
}

// hitLess reports whether a sorts before b.
func hitLess(a, b *Hit) bool {
	return a.Distance < b.Distance || (a.Distance == b.Distance && a.ID < b.ID)
}

// Nearest returns up to q.K entries (K <= 0: all) within q.Radius metres of
// q.Center (Radius <= 0: unlimited), with Seen >= q.SeenAfter, for which
// q.Filter (nil = accept all) returns true, sorted by (Distance, ID)
// ascending. The result equals a brute-force scan exactly. It appends to
// dst[:0] and returns it, so callers can reuse a buffer; with enough
// capacity in dst it does not allocate.
func (ix *Index) Nearest(q Query, dst []Hit) []Hit {
	dst = dst[:0]
	if q.Center.Validate() != nil {
		return dst
	}
	s := newSearch(ix, q.Center, q.Radius, q.SeenAfter)
	s.k, s.filter, s.hits = q.K, q.Filter, dst

	ix.mu.RLock()
	s.run()
	ix.mu.RUnlock()

	slices.SortFunc(s.hits, hitCmp)
	return s.hits
}

// Count returns how many entries with Seen >= seenAfter lie within radius
// metres of center (radius <= 0: unlimited), e.g. for surge supply
// estimates. An invalid center counts nothing.
func (ix *Index) Count(center Point, radius float64, seenAfter int64) int {
	if center.Validate() != nil {
		return 0
	}
	s := newSearch(ix, center, radius, seenAfter)
	s.counting = true
	ix.mu.RLock()
	s.run()
	ix.mu.RUnlock()
	return s.count
}

// search is the state of one Nearest or Count call.
type search struct {
	ix        *Index
	g         grid
	lat0      float64 // centre, degrees
	lon0      float64
	cos0      float64
	radius    float64 // +Inf when unlimited
	seenAfter int64

	blockKey uint64 // cache of the last block looked up
	block    *block

	k        int
	filter   func(string) bool
	hits     []Hit // a max-heap on (Distance, ID) while K > 0 and full
	counting bool
	count    int
}

func newSearch(ix *Index, c Point, radius float64, seenAfter int64) search {
	if !(radius > 0) {
		radius = math.Inf(1)
	}
	return search{
		ix: ix, g: ix.grid,
		lat0: c.Lat, lon0: c.Lon, cos0: cosLat(c.Lat),
		radius: radius, seenAfter: seenAfter,
		blockKey: math.MaxUint64, // no block has this key
	}
}

// limit returns the distance beyond which nothing can enter the result:
// the radius, or the current K-th hit once K hits are held.
func (s *search) limit() float64 {
	if s.k > 0 && len(s.hits) == s.k && s.hits[0].Distance < s.radius {
		return s.hits[0].Distance
	}
	return s.radius
}

// run fills s. ix.mu must be held (read).
//
// It visits the centre's cell, then grows a rectangle of cells
// [rLo, rHi] x [cLo, cHi] one strip at a time, always on the side whose
// lower bound is smallest (so it grows in metres, not in cells, whatever
// the latitude). After each strip the minimum of the four side bounds is a
// lower bound on the distance to every unvisited entry, and the walk stops
// once that exceeds limit(). Columns wrap across the antimeridian; once the
// rectangle spans every column the east/west bounds disappear, and a
// rectangle touching a pole has no bound on that side. If the walk would
// visit more cells than are occupied it restarts as a scan of the occupied
// cells (pruned cell by cell with cellGap), which bounds the cost near the
// poles and for sparse fleets; a query that wants everything within a
// radius covering more cells than are occupied scans them straight away.
func (s *search) run() {
	ix, g := s.ix, s.g
	occupied := ix.nCells
	if occupied == 0 {
		return
	}
	if s.k <= 0 || s.k >= len(ix.byID) {
		// Everything within the radius is wanted: if the radius clearly
		// covers more cells than are occupied, skip the walk.
		if math.IsInf(s.radius, 1) || s.radiusCells() > float64(occupied) {
			s.scanOccupied()
			return
		}
	}
	r0, c0 := g.cellOf(s.lat0, s.lon0)
	rLo, rHi, cLo, cHi := r0, r0, c0, c0
	s.visit(r0, c0)
	visited := 1

	inf := math.Inf(1)
	south := func() float64 {
		if rLo == 0 {
			return inf
		}
		return latGap(s.lat0 - g.latOf(rLo))
	}
	north := func() float64 {
		if rHi == g.rows-1 {
			return inf
		}
		return latGap(g.latOf(rHi+1) - s.lat0)
	}
	west := func() float64 {
		if cHi-cLo+1 >= g.cols {
			return inf
		}
		return lonGap(s.cos0, s.lon0-g.lonOf(cLo))
	}
	east := func() float64 {
		if cHi-cLo+1 >= g.cols {
			return inf
		}
		return lonGap(s.cos0, g.lonOf(cHi+1)-s.lon0)
	}
	bS, bN, bW, bE := south(), north(), west(), east()

	for {
		b := min(bS, bN, bW, bE)
		if math.IsInf(b, 1) || loosen(b) > s.limit() {
			return
		}
		var n int64 // cells in the next strip
		if b == bS || b == bN {
			n = cHi - cLo + 1
		} else {
			n = rHi - rLo + 1
		}
		visited += int(n)
		if visited > occupied {
			s.reset()
			s.scanOccupied()
			return
		}
		switch b {
		case bS:
			rLo--
			s.visitRow(rLo, cLo, cHi)
			bS = south()
		case bN:
			rHi++
			s.visitRow(rHi, cLo, cHi)
			bN = north()
		case bW:
			cLo--
			s.visitCol(g.wrapCol(cLo), rLo, rHi)
			bW, bE = west(), east()
		default:
			cHi++
			s.visitCol(g.wrapCol(cHi), rLo, rHi)
			bW, bE = west(), east()
		}
	}
}

// radiusCells estimates how many cells the walk visits to cover the radius
// (a heuristic: it only chooses between two exact strategies).
func (s *search) radiusCells() float64 {
	g := s.g
	h := g.dLat * degToRad * EarthRadius
	w := g.dLon * degToRad * EarthRadius * s.cos0
	rows := min(2*s.radius/h+1, float64(g.rows))
	cols := float64(g.cols)
	if w > 0 {
		cols = min(2*s.radius/w+1, cols)
	}
	return rows * cols
}

// reset drops everything gathered so far.
func (s *search) reset() {
	s.hits = s.hits[:0]
	s.count = 0
}

func (s *search) visitRow(r, cLo, cHi int64) {
	for c := cLo; c <= cHi; c++ {
		s.visit(r, s.g.wrapCol(c))
	}
}

func (s *search) visitCol(c, rLo, rHi int64) {
	for r := rLo; r <= rHi; r++ {
		s.visit(r, c)
	}
}

// visit scans cell (r, c), c in [0, cols), if it is occupied.
func (s *search) visit(r, c int64) {
	bk, i := blockOf(r, c)
	if bk != s.blockKey {
		s.blockKey, s.block = bk, s.ix.blocks[bk]
	}
	if s.block != nil && len(s.block.cells[i].items) > 0 {
		s.scanCell(&s.block.cells[i])
	}
}

// scanOccupied scans every occupied cell that could hold a match.
func (s *search) scanOccupied() {
	for bk, b := range s.ix.blocks {
		br, bc := cellRowCol(bk)
		for i := range b.cells {
			cl := &b.cells[i]
			if len(cl.items) == 0 {
				continue
			}
			r, c := br<<blockBits|int64(i>>blockBits), bc<<blockBits|int64(i&blockMask)
			if loosen(s.cellGap(r, c)) > s.limit() {
				continue
			}
			s.scanCell(cl)
		}
	}
}

// cellGap returns a lower bound on the distance from the centre to any
// point of cell (r, c), c in [0, cols): the larger of the latitude and the
// longitude bound, since a point of the cell must lie in both its band and
// its lune.
func (s *search) cellGap(r, c int64) float64 {
	g := s.g
	var lat float64
	if lo := g.latOf(r); s.lat0 < lo {
		lat = latGap(lo - s.lat0)
	} else if hi := g.latOf(r + 1); s.lat0 > hi {
		lat = latGap(s.lat0 - hi)
	}
	// x: how far east of the cell's west edge the centre is, in [0, 360).
	x := math.Mod(s.lon0-g.lonOf(c), 360)
	if x < 0 {
		x += 360
	}
	var lon float64
	if x > g.dLon {
		lon = lonGap(s.cos0, min(x-g.dLon, 360-x))
	}
	return max(lat, lon)
}

// scanCell offers every matching item of cl.
func (s *search) scanCell(cl *cell) {
	latSlack := loosen(0) // negative: rounding allowance for the latitude test
	for i := range cl.items {
		it := &cl.items[i]
		if it.seen < s.seenAfter {
			continue
		}
		lim := s.limit()
		// Cheap reject: the latitude difference alone is a lower bound.
		if dl := it.lat - s.lat0; (dl*degToRad*EarthRadius+latSlack > lim) ||
			(-dl*degToRad*EarthRadius+latSlack > lim) {
			continue
		}
		d := haversine(s.lat0, s.lon0, s.cos0, it.lat, it.lon, it.cos)
		if d > lim {
			continue
		}
		if s.filter != nil && !s.filter(it.id) {
			continue
		}
		if s.counting {
			s.count++
			continue
		}
		s.offer(Hit{ID: it.id, Point: Point{Lat: it.lat, Lon: it.lon}, Distance: d, Seen: it.seen})
	}
}

// offer adds h to the result, keeping only the K best in a max-heap.
func (s *search) offer(h Hit) {
	if s.k <= 0 || len(s.hits) < s.k {
		s.hits = append(s.hits, h)
		if s.k > 0 {
			siftUp(s.hits, len(s.hits)-1)
		}
		return
	}
	if hitLess(&h, &s.hits[0]) {
		s.hits[0] = h
		siftDown(s.hits, 0)
	}
}

// siftUp and siftDown maintain a max-heap on (Distance, ID).
func siftUp(h []Hit, i int) {
	for i > 0 {
		p := (i - 1) / 2
		if !hitLess(&h[p], &h[i]) {
			return
		}
		h[p], h[i] = h[i], h[p]
		i = p
	}
}

func siftDown(h []Hit, i int) {
	n := len(h)
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		m := l
		if r := l + 1; r < n && hitLess(&h[l], &h[r]) {
			m = r
		}
		if !hitLess(&h[i], &h[m]) {
			return
		}
		h[i], h[m] = h[m], h[i]
		i = m
	}
}
