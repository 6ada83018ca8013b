package trace_test

import (
	"math"
	"testing"
	"time"

	"github.com/ridehail/dispatch/geo"
	"github.com/ridehail/dispatch/internal/trace"
)

// east returns Pi of the public reports: a vehicle heading east at about
// 10 m/s, each step 9.97 m.
func east(i int) geo.Point {
	return geo.Point{Lat: 12.9755, Lon: 77.605000 + 0.000092*float64(i)}
}

func sec(s int64) time.Time { return time.Unix(1_700_000_000+s, 0).UTC() }

func fix(v string, t time.Time, p geo.Point, occ int8) trace.Fix {
	return trace.Fix{Vehicle: v, T: t, P: p, Occupied: occ, Speed: math.NaN(), Heading: math.NaN()}
}

// checkCleanTrace asserts the post-conditions of Clean on one vehicle's
// fixes: strictly increasing times, valid points, and finite, non-negative
// speeds no faster than maxKmh between consecutive fixes.
func checkCleanTrace(t *testing.T, fixes []trace.Fix, maxKmh float64) {
	t.Helper()
	for i, f := range fixes {
		if err := f.P.Validate(); err != nil || (f.P.Lat == 0 && f.P.Lon == 0) {
			t.Fatalf("fix %d: bad point %+v", i, f.P)
		}
		if i == 0 || f.Vehicle != fixes[i-1].Vehicle {
			continue
		}
		dt := f.T.Sub(fixes[i-1].T).Seconds()
		if dt <= 0 {
			t.Fatalf("fix %d: time goes from %v to %v", i, fixes[i-1].T, f.T)
		}
		v := geo.Distance(fixes[i-1].P, f.P) / dt
		if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
			t.Fatalf("fix %d: speed %v", i, v)
		}
		if v*3.6 > maxKmh*(1+1e-9) {
			t.Fatalf("fix %d: speed %.1f km/h above %v", i, v*3.6, maxKmh)
		}
	}
}

// checkStats asserts the accounting identities of Stats.
func checkStats(t *testing.T, st trace.Stats) {
	t.Helper()
	fixDrops := st.NonFinite + st.OutOfRange + st.ZeroZero + st.DuplicateTime + st.NonIncreasing + st.Teleport
	if st.Records != st.Kept+fixDrops {
		t.Fatalf("records %d != kept %d + drops %d (%v)", st.Records, st.Kept, fixDrops, st)
	}
	if st.Rows < st.Blank+st.Malformed+st.Empty {
		t.Fatalf("rows %d < blank+malformed+empty (%v)", st.Rows, st)
	}
}

func times(fixes []trace.Fix) []int64 {
	out := make([]int64, len(fixes))
	for i, f := range fixes {
		out[i] = f.T.Unix() - 1_700_000_000
	}
	return out
}
