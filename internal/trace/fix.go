package trace

import (
	"slices"
	"strings"
	"time"

	"github.com/ridehail/dispatch/geo"
)

// Occupancy values of Fix.Occupied.
const (
	OccUnknown  int8 = -1 // the file has no occupancy flag
	OccFree     int8 = 0  // the vehicle has no passenger
	OccOccupied int8 = 1  // the vehicle carries a passenger
)

// Fix is one GPS position report of one vehicle.
type Fix struct {
	Vehicle  string
	T        time.Time
	P        geo.Point
	Occupied int8    // OccUnknown, OccFree or OccOccupied
	Speed    float64 // raw value in the file's unit; NaN when absent
	Heading  float64 // raw value in the file's unit; NaN when absent
}

// Vehicle is the trace of one vehicle.
type Vehicle struct {
	ID    string
	Fixes []Fix
}

// Group splits fixes by Fix.Vehicle. Vehicles are sorted by ID; each
// vehicle's fixes keep their input order. The fixes are copied.
func Group(fixes []Fix) []Vehicle {
	index := make(map[string]int)
	var vs []Vehicle
	for _, f := range fixes {
		i, ok := index[f.Vehicle]
		if !ok {
			i = len(vs)
			index[f.Vehicle] = i
			vs = append(vs, Vehicle{ID: f.Vehicle})
		}
		vs[i].Fixes = append(vs[i].Fixes, f)
	}
	slices.SortFunc(vs, func(a, b Vehicle) int { return strings.Compare(a.ID, b.ID) })
	return vs
}

// Flatten concatenates the fixes of vs in order.
func Flatten(vs []Vehicle) []Fix {
	n := 0
	for _, v := range vs {
		n += len(v.Fixes)
	}
	out := make([]Fix, 0, n)
	for _, v := range vs {
		out = append(out, v.Fixes...)
	}
	return out
}
