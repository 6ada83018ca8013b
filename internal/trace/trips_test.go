package trace_test

import (
	"testing"
	"time"

	"github.com/ridehail/dispatch/geo"
	"github.com/ridehail/dispatch/internal/trace"
)

// occTrace builds a 1-fix-per-step trace heading east: steps[i] gives the
// seconds since the previous fix and the occupancy; the position advances
// by `move` steps of 9.97 m per fix.
type step struct {
	dt  int64
	occ int8
}

func occTrace(v string, start int64, move int, steps ...step) []trace.Fix {
	var fs []trace.Fix
	t := start
	for i, s := range steps {
		t += s.dt
		fs = append(fs, fix(v, sec(t), east(i*move), s.occ))
	}
	return fs
}

func checkTripStats(t *testing.T, st trace.TripStats) {
	t.Helper()
	if st.Pickups != st.Trips+st.Merged+st.Flicker+st.Gap+st.Unfinished+st.Unknown {
		t.Fatalf("pickups do not add up: %v", st)
	}
}

func TestDeriveTrips(t *testing.T) {
	// 60 s between fixes, 20 steps (199 m) between them.
	fs := occTrace("v", 0, 20,
		step{0, 0}, step{60, 0}, step{60, 1}, step{60, 1}, step{60, 1}, step{60, 0}, step{60, 0})
	trips, st := trace.DeriveTrips(fs, trace.TripOptions{})
	if len(trips) != 1 || st.Pickups != 1 || st.Trips != 1 {
		t.Fatalf("trips %v stats %v", trips, st)
	}
	want := trace.Trip{Vehicle: "v", PickupT: sec(120), Pickup: east(40), HasDropoff: true, Dropoff: east(100), DropoffT: sec(300)}
	if got := trips[0]; got != want {
		t.Fatalf("trip %+v\nwant %+v", got, want)
	}
	checkTripStats(t, st)
}

func TestDeriveTripsRules(t *testing.T) {
	for _, tc := range []struct {
		name  string
		fixes []trace.Fix
		opt   trace.TripOptions
		want  trace.TripStats
		first trace.Trip // checked when Trips > 0
	}{
		{
			name: "occupied for 30 s at one spot is flicker",
			fixes: occTrace("v", 0, 0,
				step{0, 0}, step{60, 0}, step{10, 1}, step{20, 0}, step{60, 0}),
			want: trace.TripStats{Pickups: 1, Flicker: 1},
		},
		{
			name: "occupied for 10 min without moving 100 m is flicker",
			fixes: occTrace("v", 0, 1,
				step{0, 0}, step{60, 1}, step{300, 1}, step{300, 0}),
			want: trace.TripStats{Pickups: 1, Flicker: 1},
		},
		{
			name: "short free flicker inside a trip is merged",
			fixes: append(occTrace("v", 0, 20,
				step{0, 0}, step{60, 1}, step{60, 1}, step{60, 1}),
				fix("v", sec(200), east(60), 0), // free for 15 s where it stopped
				fix("v", sec(215), east(60), 1),
				fix("v", sec(275), east(80), 1),
				fix("v", sec(335), east(100), 0)),
			want:  trace.TripStats{Pickups: 2, Trips: 1, Merged: 1},
			first: trace.Trip{Vehicle: "v", PickupT: sec(60), Pickup: east(20), HasDropoff: true, Dropoff: east(100), DropoffT: sec(335)},
		},
		{
			name: "merging disabled gives two trips",
			fixes: append(occTrace("v", 0, 20,
				step{0, 0}, step{60, 1}, step{60, 1}, step{60, 1}),
				fix("v", sec(200), east(60), 0),
				fix("v", sec(215), east(60), 1),
				fix("v", sec(275), east(80), 1),
				fix("v", sec(335), east(100), 0)),
			opt:  trace.TripOptions{MergeWithin: -1},
			want: trace.TripStats{Pickups: 2, Trips: 2},
		},
		{
			name: "a merged trip inherits a gap of its second part",
			fixes: append(occTrace("v", 0, 20,
				step{0, 0}, step{60, 1}, step{60, 1}, step{60, 1}),
				fix("v", sec(200), east(60), 0),
				fix("v", sec(215), east(60), 1),
				fix("v", sec(2000), east(80), 1),
				fix("v", sec(2060), east(100), 0)),
			want: trace.TripStats{Pickups: 2, Merged: 1, Gap: 1},
		},
		{
			name: "a trip across a gap is dropped",
			fixes: occTrace("v", 0, 20,
				step{0, 0}, step{60, 1}, step{60, 1}, step{1800, 1}, step{60, 0}),
			want: trace.TripStats{Pickups: 1, Gap: 1},
		},
		{
			name: "a pickup seen only after a gap is dropped",
			fixes: occTrace("v", 0, 20,
				step{0, 0}, step{1800, 1}, step{60, 1}, step{60, 0}),
			want: trace.TripStats{Pickups: 1, Gap: 1},
		},
		{
			name: "a longer gap threshold keeps it",
			fixes: occTrace("v", 0, 20,
				step{0, 0}, step{60, 1}, step{60, 1}, step{1800, 1}, step{60, 0}),
			opt:  trace.TripOptions{Gap: time.Hour},
			want: trace.TripStats{Pickups: 1, Trips: 1},
		},
		{
			name:  "still occupied at the end",
			fixes: occTrace("v", 0, 20, step{0, 0}, step{60, 1}, step{60, 1}),
			want:  trace.TripStats{Pickups: 1, Unfinished: 1},
		},
		{
			name:  "unknown occupancy interrupts a trip",
			fixes: occTrace("v", 0, 20, step{0, 0}, step{60, 1}, step{60, -1}, step{60, 0}),
			want:  trace.TripStats{Pickups: 1, Unknown: 1},
		},
		{
			name:  "a trace that starts occupied has no pickup",
			fixes: occTrace("v", 0, 20, step{0, 1}, step{60, 1}, step{60, 0}),
			want:  trace.TripStats{},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			trips, st := trace.DeriveTrips(tc.fixes, tc.opt)
			if st != tc.want {
				t.Fatalf("stats %+v\nwant  %+v", st, tc.want)
			}
			if len(trips) != st.Trips {
				t.Fatalf("%d trips, stats say %d", len(trips), st.Trips)
			}
			if tc.first.Vehicle != "" && trips[0] != tc.first {
				t.Fatalf("trip %+v\nwant %+v", trips[0], tc.first)
			}
			checkTripStats(t, st)
		})
	}
}

func TestDeriveTripsVehiclesSortedByPickup(t *testing.T) {
	a := occTrace("a", 100, 20, step{0, 0}, step{60, 1}, step{60, 1}, step{60, 0})
	b := occTrace("b", 0, 20, step{0, 0}, step{60, 1}, step{60, 1}, step{60, 0})
	// interleaved input is grouped first
	in := []trace.Fix{a[0], b[0], a[1], b[1], a[2], b[2], a[3], b[3]}
	trips, st := trace.DeriveTrips(in, trace.TripOptions{})
	if len(trips) != 2 || trips[0].Vehicle != "b" || trips[1].Vehicle != "a" {
		t.Fatalf("trips %+v", trips)
	}
	if trips[0].PickupT != sec(60) || trips[0].Pickup != (geo.Point{Lat: 12.9755, Lon: 77.605000 + 0.000092*20}) {
		t.Fatalf("first trip %+v", trips[0])
	}
	checkTripStats(t, st)
}
