package trace

import (
	"slices"
	"strings"
	"time"

	"github.com/ridehail/dispatch/geo"
)

// Trip is one ride: where and when a passenger was picked up and, when
// known, dropped off.
type Trip struct {
	ID         string // from a trip file's id column; "" when derived
	Vehicle    string // "" when unknown
	PickupT    time.Time
	Pickup     geo.Point
	HasDropoff bool
	Dropoff    geo.Point // valid when HasDropoff
	DropoffT   time.Time // zero when unknown
}

// Defaults of TripOptions.
const (
	DefaultMinTripDuration = 60 * time.Second
	DefaultMinTripDistance = 100.0 // metres
	DefaultMergeWithin     = 60 * time.Second
)

// TripOptions configures DeriveTrips. The zero value is the default policy;
// a negative value disables a rule.
type TripOptions struct {
	// MinDuration: a trip shorter than this is occupancy flicker
	// (DefaultMinTripDuration when 0).
	MinDuration time.Duration
	// MinDistance in metres: a trip whose drop-off lies closer than this to
	// its pickup is flicker (DefaultMinTripDistance when 0). It also bounds
	// the free spells that MergeWithin joins.
	MinDistance float64
	// MergeWithin: a free spell (from the drop-off fix to the next pickup
	// fix) no longer than this and ending closer than MinDistance to where
	// it began is a flicker of the flag inside one trip, and the two trips
	// are joined (DefaultMergeWithin when 0).
	MergeWithin time.Duration
	// Gap: a trip during which the trace has a gap longer than this, between
	// the fix before the pickup and the drop-off fix, is dropped
	// (DefaultGap when <= 0).
	Gap time.Duration
}

// span is an occupied stretch: fixes[start] is the pickup fix, fixes[end]
// the drop-off fix (-1 while unfinished).
type span struct {
	start, end int
	gapped     bool
	unknown    bool
}

// DeriveTrips derives trips from the occupancy flags of cleaned fixes (see
// Clean), vehicle by vehicle. A 0→1 change of Fix.Occupied between
// consecutive fixes is a pickup at the first occupied fix; the next 1→0
// change is the drop-off at the first free fix. Then, in this order:
//
//   - a free spell no longer than MergeWithin that ends within MinDistance
//     of where it began joins the trips on either side (Merged);
//   - a trip still occupied at the end of the trace is dropped
//     (Unfinished), as is one interrupted by a fix of unknown occupancy
//     (Unknown);
//   - a trip with a gap longer than Gap between two consecutive fixes, from
//     the free fix before the pickup to the drop-off fix, is dropped (Gap);
//   - a trip shorter than MinDuration, or whose drop-off lies within
//     MinDistance of its pickup, is occupancy flicker and is dropped
//     (Flicker).
//
// The trips are sorted by pickup time, then vehicle.
func DeriveTrips(fixes []Fix, opt TripOptions) ([]Trip, TripStats) {
	opt = opt.withDefaults()
	var st TripStats
	var trips []Trip
	for _, v := range groupView(fixes) {
		trips = deriveVehicle(v, opt, &st, trips)
	}
	slices.SortStableFunc(trips, func(a, b Trip) int {
		if c := a.PickupT.Compare(b.PickupT); c != 0 {
			return c
		}
		return strings.Compare(a.Vehicle, b.Vehicle)
	})
	st.Trips = len(trips)
	return trips, st
}

func (o TripOptions) withDefaults() TripOptions {
	if o.MinDuration == 0 {
		o.MinDuration = DefaultMinTripDuration
	}
	if o.MinDistance == 0 {
		o.MinDistance = DefaultMinTripDistance
	}
	if o.MergeWithin == 0 {
		o.MergeWithin = DefaultMergeWithin
	}
	if o.Gap <= 0 {
		o.Gap = DefaultGap
	}
	return o
}

// groupView splits fixes into runs of one vehicle without copying when the
// input is already grouped (as Clean returns it), and groups otherwise.
func groupView(fixes []Fix) [][]Fix {
	var runs [][]Fix
	seen := make(map[string]bool)
	start := 0
	for i := 1; i <= len(fixes); i++ {
		if i < len(fixes) && fixes[i].Vehicle == fixes[start].Vehicle {
			continue
		}
		if seen[fixes[start].Vehicle] {
			vs := Group(fixes)
			runs = runs[:0]
			for _, v := range vs {
				runs = append(runs, v.Fixes)
			}
			return runs
		}
		seen[fixes[start].Vehicle] = true
		runs = append(runs, fixes[start:i])
		start = i
	}
	return runs
}

func deriveVehicle(fixes []Fix, opt TripOptions, st *TripStats, trips []Trip) []Trip {
	var spans []span
	open := -1 // index in spans of the trip in progress
	for i := 1; i < len(fixes); i++ {
		prev, cur := fixes[i-1], fixes[i]
		gap := cur.T.Sub(prev.T) > opt.Gap
		if open >= 0 {
			s := &spans[open]
			s.gapped = s.gapped || gap
			switch cur.Occupied {
			case OccFree:
				s.end = i
				open = -1
			case OccUnknown:
				s.unknown = true
				open = -1
			}
			continue
		}
		if prev.Occupied == OccFree && cur.Occupied == OccOccupied {
			st.Pickups++
			spans = append(spans, span{start: i, end: -1, gapped: gap})
			open = len(spans) - 1
		}
	}
	spans = mergeFlicker(fixes, spans, opt, st)
	for _, s := range spans {
		switch {
		case s.unknown:
			st.Unknown++
		case s.end < 0:
			st.Unfinished++
		case s.gapped:
			st.Gap++
		default:
			pu, do := fixes[s.start], fixes[s.end]
			if (opt.MinDuration > 0 && do.T.Sub(pu.T) < opt.MinDuration) ||
				(opt.MinDistance > 0 && geo.Distance(pu.P, do.P) < opt.MinDistance) {
				st.Flicker++
				continue
			}
			trips = append(trips, Trip{
				Vehicle: pu.Vehicle, PickupT: pu.T, Pickup: pu.P,
				HasDropoff: true, Dropoff: do.P, DropoffT: do.T,
			})
		}
	}
	return trips
}

// mergeFlicker joins consecutive spans separated by a short free spell that
// ends where it began.
func mergeFlicker(fixes []Fix, spans []span, opt TripOptions, st *TripStats) []span {
	if opt.MergeWithin < 0 || len(spans) < 2 {
		return spans
	}
	out := spans[:1]
	for _, s := range spans[1:] {
		last := &out[len(out)-1]
		if last.end >= 0 && !last.unknown && shortFree(fixes, last.end, s.start, opt) {
			st.Merged++
			last.end, last.gapped, last.unknown = s.end, s.gapped, s.unknown
			continue
		}
		out = append(out, s)
	}
	return out
}

// shortFree reports whether the free spell from fixes[from] (the drop-off
// fix) to fixes[to] (the next pickup fix) is a flicker of the flag.
func shortFree(fixes []Fix, from, to int, opt TripOptions) bool {
	a, b := fixes[from], fixes[to]
	if b.T.Sub(a.T) > opt.MergeWithin {
		return false
	}
	for i := from + 1; i <= to; i++ {
		if fixes[i].Occupied == OccUnknown || fixes[i].T.Sub(fixes[i-1].T) > opt.Gap {
			return false
		}
	}
	return opt.MinDistance <= 0 || geo.Distance(a.P, b.P) < opt.MinDistance
}
