package trace_test

import (
	"context"
	"testing"

	"github.com/ridehail/dispatch/internal/trace"
)

// TestCabspottingExcerpt reads the real excerpt in testdata/cabspotting (25
// cabs, 2008-05-23 02:00–06:00 UTC; see its README) with the Cabspotting
// format, cleans it and derives its trips. The figures are the ones observed
// when the excerpt was cut, and are quoted in the README.
func TestCabspottingExcerpt(t *testing.T) {
	ctx := context.Background()
	dir := []string{"../../testdata/cabspotting"}
	raw, rst, err := trace.ReadFiles(ctx, dir, cabspotting)
	if err != nil {
		t.Fatal(err)
	}
	if len(raw) != 25 || rst != (trace.Stats{Rows: 6165, Records: 6165, Kept: 6165}) {
		t.Fatalf("read %d vehicles, %v; want 25 vehicles, 6165 clean rows", len(raw), rst)
	}

	vs, st, err := trace.Load(ctx, dir, cabspotting, trace.CleanOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(vs) != 25 || st != (trace.Stats{Rows: 6165, Records: 6165, Kept: 6158, Teleport: 7}) {
		t.Fatalf("cleaned %d vehicles, %v", len(vs), st)
	}
	var all []trace.Fix
	segs := 0
	for _, v := range vs {
		checkCleanTrace(t, v.Fixes, trace.DefaultMaxSpeedKmh)
		segs += len(trace.Segments(v.Fixes, 0))
		all = append(all, v.Fixes...)
	}
	if segs != 33 {
		t.Errorf("%d online segments, want 33", segs)
	}

	trips, tst := trace.DeriveTrips(all, trace.TripOptions{})
	want := trace.TripStats{Pickups: 423, Trips: 347, Merged: 49, Flicker: 7, Gap: 4, Unfinished: 16}
	if tst != want || len(trips) != 347 {
		t.Fatalf("trips %d, %v\nwant %v", len(trips), tst, want)
	}
	checkTripStats(t, tst)
	for i, tr := range trips {
		if tr.DropoffT.Sub(tr.PickupT) < trace.DefaultMinTripDuration || (i > 0 && tr.PickupT.Before(trips[i-1].PickupT)) {
			t.Fatalf("trip %d %+v", i, tr)
		}
	}
	t.Logf("first trip %+v, last %+v", trips[0], trips[len(trips)-1])
}
