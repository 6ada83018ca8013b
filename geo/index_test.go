package geo

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"testing"
)

// mustUpsert upserts or fails the test.
func mustUpsert(tb testing.TB, ix *Index, id string, p Point, seen int64) {
	tb.Helper()
	if err := ix.Upsert(id, p, seen); err != nil {
		tb.Fatalf("Upsert(%q, %v): %v", id, p, err)
	}
}

func TestRegressionHoChiMinh(t *testing.T) {
	ix := NewIndex()
	mustUpsert(t, ix, "driver", Point{10.958879, 106.528055}, 1)
	hits := ix.Nearest(Query{Center: Point{10.952859455425, 106.526802369906}, Radius: 1000, K: 10}, nil)
	if len(hits) != 1 || hits[0].ID != "driver" {
		t.Fatalf("hits = %+v, want the driver", hits)
	}
	if d := hits[0].Distance; math.Abs(d-683.2) > 0.1 {
		t.Errorf("distance = %.3f, want 683.2 ± 0.1", d)
	}
}

func TestRegressionAntimeridian(t *testing.T) {
	ix := NewIndex()
	mustUpsert(t, ix, "driver", Point{-16.80, -179.99}, 1)
	hits := ix.Nearest(Query{Center: Point{-16.80, 179.99}, Radius: 5000, K: 10}, nil)
	if len(hits) != 1 || hits[0].ID != "driver" {
		t.Fatalf("hits = %+v, want the driver", hits)
	}
	if d := hits[0].Distance; math.Abs(d-2129.0) > 0.1 {
		t.Errorf("distance = %.3f, want 2129.0 ± 0.1", d)
	}
}

func TestRegressionAntimeridianNotNullIsland(t *testing.T) {
	ix := NewIndex()
	mustUpsert(t, ix, "east", Point{0, 179.5}, 1)
	mustUpsert(t, ix, "west", Point{0, -179.5}, 1)
	mustUpsert(t, ix, "null-island", Point{0, 0}, 1)
	for _, k := range []int{0, 2, 3, 10} {
		hits := ix.Nearest(Query{Center: Point{0, 179.9}, Radius: 100000, K: k}, nil)
		if len(hits) != 2 || hits[0].ID != "east" || hits[1].ID != "west" {
			t.Fatalf("K=%d: hits = %+v, want east then west", k, hits)
		}
		if math.Abs(hits[0].Distance-44478) > 1 || math.Abs(hits[1].Distance-66717) > 1 {
			t.Errorf("K=%d: distances %.1f, %.1f, want 44.48 km and 66.72 km", k, hits[0].Distance, hits[1].Distance)
		}
	}
	if n := ix.Count(Point{0, 179.9}, 100000, 0); n != 2 {
		t.Errorf("Count = %d, want 2", n)
	}
}

func TestUpsertRejectsInvalid(t *testing.T) {
	ix := NewIndex()
	for _, p := range []Point{{math.NaN(), 0}, {91, 0}, {0, 180.0001}, {0, math.Inf(1)}} {
		if err := ix.Upsert("a", p, 1); !errors.Is(err, ErrInvalidPoint) {
			t.Errorf("Upsert(%v) = %v, want ErrInvalidPoint", p, err)
		}
	}
	if ix.Len() != 0 {
		t.Errorf("Len = %d after rejected upserts", ix.Len())
	}
	mustUpsert(t, ix, "a", Point{1, 1}, 5)
	if err := ix.Upsert("a", Point{100, 1}, 6); err == nil {
		t.Fatal("invalid move accepted")
	}
	if p, seen, ok := ix.Get("a"); !ok || p != (Point{1, 1}) || seen != 5 {
		t.Errorf("after rejected move Get = %v %v %v, want the old fix", p, seen, ok)
	}
}

func TestUpsertGetRemoveLen(t *testing.T) {
	ix := NewIndex()
	if _, _, ok := ix.Get("x"); ok {
		t.Fatal("Get on empty index")
	}
	mustUpsert(t, ix, "a", Point{37.77, -122.42}, 10)
	mustUpsert(t, ix, "b", Point{37.78, -122.41}, 11)
	mustUpsert(t, ix, "a", Point{37.7701, -122.4201}, 12) // same cell
	mustUpsert(t, ix, "b", Point{40.0, -74.0}, 13)        // far move
	if ix.Len() != 2 {
		t.Fatalf("Len = %d, want 2", ix.Len())
	}
	if p, seen, ok := ix.Get("a"); !ok || p != (Point{37.7701, -122.4201}) || seen != 12 {
		t.Errorf("Get(a) = %v %v %v", p, seen, ok)
	}
	if p, seen, ok := ix.Get("b"); !ok || p != (Point{40.0, -74.0}) || seen != 13 {
		t.Errorf("Get(b) = %v %v %v", p, seen, ok)
	}
	if !ix.Remove("a") || ix.Remove("a") {
		t.Error("Remove(a) should succeed once")
	}
	if _, _, ok := ix.Get("a"); ok || ix.Len() != 1 {
		t.Errorf("a still present, Len = %d", ix.Len())
	}
	checkInvariants(t, ix)
}

func TestEdgePointsStored(t *testing.T) {
	ix := NewIndex()
	pts := map[string]Point{
		"np": {90, 0}, "np2": {90, 180}, "sp": {-90, -180},
		"am+": {0, 180}, "am-": {0, -180}, "corner": {-90, 180},
	}
	for id, p := range pts {
		mustUpsert(t, ix, id, p, 1)
	}
	checkInvariants(t, ix)
	hits := ix.Nearest(Query{Center: Point{90, 45}, K: 2}, nil)
	if len(hits) != 2 || hits[0].ID != "np" || hits[1].ID != "np2" || hits[0].Distance != 0 || hits[1].Distance != 0 {
		t.Errorf("north pole hits = %+v", hits)
	}
	hits = ix.Nearest(Query{Center: Point{0, -180}, Radius: 1}, nil)
	if len(hits) != 2 || hits[0].ID != "am+" || hits[1].ID != "am-" {
		t.Errorf("antimeridian hits = %+v", hits)
	}
}

func TestNearestTiesByID(t *testing.T) {
	ix := NewIndex()
	p := Point{48.8566, 2.3522}
	for _, id := range []string{"d", "b", "e", "a", "c"} {
		mustUpsert(t, ix, id, p, 1)
	}
	hits := ix.Nearest(Query{Center: p, K: 3, Radius: 10}, nil)
	got := []string{}
	for _, h := range hits {
		got = append(got, h.ID)
	}
	if !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Errorf("ids = %v, want [a b c]", got)
	}
}

func TestNearestFilterSeenAfterAndBuffer(t *testing.T) {
	ix := NewIndex()
	c := Point{51.5, -0.12}
	for i := range 20 {
		mustUpsert(t, ix, fmt.Sprintf("d%02d", i), Point{c.Lat + float64(i)*1e-4, c.Lon}, int64(i))
	}
	buf := make([]Hit, 0, 64)
	hits := ix.Nearest(Query{
		Center: c, Radius: 1000, K: 3, SeenAfter: 5,
		Filter: func(id string) bool { return id != "d06" },
	}, buf)
	want := []string{"d05", "d07", "d08"}
	if len(hits) != 3 {
		t.Fatalf("hits = %+v", hits)
	}
	for i, h := range hits {
		if h.ID != want[i] || h.Seen != int64(h.ID[2]-'0')+10*int64(h.ID[1]-'0') {
			t.Errorf("hit %d = %+v, want %s", i, h, want[i])
		}
	}
	if &hits[0] != &buf[:1][0] {
		t.Error("Nearest did not reuse dst")
	}
	if n := ix.Count(c, 1000, 5); n != 15 {
		t.Errorf("Count = %d, want 15", n)
	}
	if n := ix.Count(c, 0, 0); n != 20 {
		t.Errorf("Count(unlimited) = %d, want 20", n)
	}
	if hits := ix.Nearest(Query{Center: Point{math.NaN(), 0}}, nil); len(hits) != 0 {
		t.Errorf("invalid centre returned %v", hits)
	}
}

func TestSweep(t *testing.T) {
	ix := NewIndex()
	for i := range 1000 {
		mustUpsert(t, ix, fmt.Sprintf("d%04d", i), Point{float64(i%170) - 85, float64(i%359) - 179}, int64(i))
	}
	got := ix.Sweep(600)
	slices.Sort(got)
	if len(got) != 600 || got[0] != "d0000" || got[599] != "d0599" {
		t.Fatalf("Sweep removed %d: %v...", len(got), got[:min(3, len(got))])
	}
	if ix.Len() != 400 {
		t.Errorf("Len = %d, want 400", ix.Len())
	}
	if got := ix.Sweep(600); got != nil {
		t.Errorf("second Sweep = %v, want nil", got)
	}
	checkInvariants(t, ix)
}

// checkInvariants verifies the internal structure: every entry sits in the
// cell its point maps to, at the index it records, and the occupancy counts
// are right.
func checkInvariants(tb testing.TB, ix *Index) {
	tb.Helper()
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	n, cells := 0, 0
	for bk, b := range ix.blocks {
		occupied := 0
		for ci := range b.cells {
			c := &b.cells[ci]
			if len(c.items) > 0 {
				occupied++
			}
			for i := range c.items {
				it := &c.items[i]
				r, col := ix.grid.cellOf(it.lat, it.lon)
				k, j := blockOf(r, col)
				want := entry{it: it, c: c, idx: i}
				if k != bk || j != ci || it.key != cellKey(r, col) || ix.byID[it.id] != want || it.cos != cosLat(it.lat) {
					tb.Fatalf("item %q misplaced", it.id)
				}
				n++
			}
		}
		if occupied == 0 || occupied != b.n {
			tb.Fatalf("block %x: %d occupied cells, n = %d", bk, occupied, b.n)
		}
		cells += occupied
	}
	if n != len(ix.byID) || cells != ix.nCells {
		tb.Fatalf("%d items in cells, %d ids; %d cells, nCells = %d", n, len(ix.byID), cells, ix.nCells)
	}
}
