package trace_test

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/ridehail/dispatch/geo"
	"github.com/ridehail/dispatch/internal/trace"
)

// Public report 1: out-of-order and duplicate timestamps.
func TestCleanNonIncreasingTimestamps(t *testing.T) {
	ts := []int64{6, 7, 8, 9, 7, 8, 9, 10, 11, 11}
	var in []trace.Fix
	for i, s := range ts[:9] {
		in = append(in, fix("v", sec(s), east(i), trace.OccUnknown))
	}
	in = append(in, fix("v", sec(11), geo.Point{Lat: 12.9755, Lon: 77.605782}, trace.OccUnknown))
	orig := slices.Clone(in)

	wantT := []int64{6, 7, 8, 9, 10, 11}
	wantP := []geo.Point{east(0), east(1), east(2), east(3), east(7), east(8)}
	for _, tc := range []struct {
		order                   string
		dup, nonIncreasing, uns int
	}{
		{trace.OrderDrop, 2, 2, 2},
		{trace.OrderSort, 4, 0, 2},
		{"", 4, 0, 2}, // sort is the default
	} {
		t.Run("order="+tc.order, func(t *testing.T) {
			out, st := trace.Clean(in, trace.CleanOptions{Order: tc.order})
			if got := times(out); !slices.Equal(got, wantT) {
				t.Fatalf("times = %v, want %v", got, wantT)
			}
			for i, f := range out {
				if f.P != wantP[i] {
					t.Errorf("fix %d at %+v, want %+v", i, f.P, wantP[i])
				}
			}
			checkCleanTrace(t, out, trace.DefaultMaxSpeedKmh)
			if st.DuplicateTime != tc.dup || st.NonIncreasing != tc.nonIncreasing || st.Unsorted != tc.uns || st.Teleport != 0 {
				t.Errorf("stats = %v, want duplicate_time=%d non_increasing=%d unsorted=%d", st, tc.dup, tc.nonIncreasing, tc.uns)
			}
			if st.Records != 10 || st.Kept != 6 {
				t.Errorf("records/kept = %d/%d, want 10/6", st.Records, st.Kept)
			}
			checkStats(t, st)
			if !slices.EqualFunc(in, orig, sameFix) {
				t.Fatal("Clean modified its input")
			}
		})
	}
}

func sameFix(a, b trace.Fix) bool {
	return a.Vehicle == b.Vehicle && a.T.Equal(b.T) && a.P == b.P && a.Occupied == b.Occupied
}

// Public report 2: a 289 km jump and a (0,0) fix in a 1 Hz trace.
func TestCleanTeleportAndZeroZero(t *testing.T) {
	pts := []geo.Point{east(0), east(1), east(2), {Lat: 13.0827, Lon: 80.2707}, east(3), {}, east(4), east(5)}
	if d := geo.Distance(east(2), pts[3]); d < 288e3 || d > 290e3 {
		t.Fatalf("test jump is %.0f m, want ~289 km", d)
	}
	var in []trace.Fix
	for i, p := range pts {
		in = append(in, fix("v", sec(int64(i)), p, trace.OccUnknown))
	}
	for _, order := range []string{trace.OrderSort, trace.OrderDrop} {
		t.Run(order, func(t *testing.T) {
			out, st := trace.Clean(in, trace.CleanOptions{Order: order})
			if st.Teleport != 1 || st.ZeroZero != 1 || st.Kept != 6 || st.Dropped() != 2 {
				t.Fatalf("stats = %v, want teleport=1 zero_zero=1 kept=6", st)
			}
			travelled := 0.0
			for i, f := range out {
				if d := geo.Distance(east(0), f.P); d > 1000 {
					t.Errorf("kept fix %d is %.0f m from P0", i, d)
				}
				if i > 0 {
					travelled += geo.Distance(out[i-1].P, f.P)
				}
			}
			if math.Abs(travelled-49.84) > 0.01 {
				t.Fatalf("travelled %.4f m, want 49.84 ± 0.01", travelled)
			}
			want := []geo.Point{east(0), east(1), east(2), east(3), east(4), east(5)}
			for i, f := range out {
				if f.P != want[i] {
					t.Errorf("fix %d at %+v, want %+v", i, f.P, want[i])
				}
			}
			checkCleanTrace(t, out, trace.DefaultMaxSpeedKmh)
			checkStats(t, st)
		})
	}
}

func TestCleanTeleportAnchoring(t *testing.T) {
	far := func(i int) geo.Point { return geo.Point{Lat: 13.0827, Lon: 80.2707 + 0.000092*float64(i)} }
	trace1Hz := func(pts ...geo.Point) []trace.Fix {
		var fs []trace.Fix
		for i, p := range pts {
			fs = append(fs, fix("v", sec(int64(i)), p, trace.OccUnknown))
		}
		return fs
	}
	for _, tc := range []struct {
		name     string
		in       []geo.Point
		want     []geo.Point
		teleport int
	}{
		{
			name: "glitchy first fix is replaced by the fixes that agree",
			in:   []geo.Point{far(0), east(0), east(1), east(2), east(3), east(4), east(5)},
			want: []geo.Point{east(0), east(1), east(2), east(3), east(4), east(5)}, teleport: 1,
		},
		{
			name: "glitchy first fix, short trace: two agreeing fixes outvote it at the end",
			in:   []geo.Point{far(0), east(0), east(1)},
			want: []geo.Point{east(0), east(1)}, teleport: 1,
		},
		{
			name: "consistent glitch run shorter than the chain is dropped",
			in:   []geo.Point{east(0), east(1), east(2), east(3), far(4), far(5), far(6), east(7), east(8)},
			want: []geo.Point{east(0), east(1), east(2), east(3), east(7), east(8)}, teleport: 3,
		},
		{
			name: "scattered glitches each count once",
			in:   []geo.Point{east(0), east(1), far(0), {Lat: -33.9, Lon: 151.2}, east(4), east(5)},
			want: []geo.Point{east(0), east(1), east(4), east(5)}, teleport: 2,
		},
		{
			name: "glitch at the end",
			in:   []geo.Point{east(0), east(1), east(2), far(3)},
			want: []geo.Point{east(0), east(1), east(2)}, teleport: 1,
		},
		{
			name: "the trace moves for good: the longer run wins",
			in:   []geo.Point{east(0), east(1), far(2), far(3), far(4), far(5)},
			want: []geo.Point{far(2), far(3), far(4), far(5)}, teleport: 2,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, st := trace.Clean(trace1Hz(tc.in...), trace.CleanOptions{})
			var got []geo.Point
			for _, f := range out {
				got = append(got, f.P)
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("kept %v\nwant %v", got, tc.want)
			}
			if st.Teleport != tc.teleport {
				t.Fatalf("teleport = %d, want %d", st.Teleport, tc.teleport)
			}
			checkCleanTrace(t, out, trace.DefaultMaxSpeedKmh)
			checkStats(t, st)
		})
	}
}

func TestCleanSpeedLimitOption(t *testing.T) {
	// 4 steps of 9.97 m in 1 s each is ~36 km/h.
	in := []trace.Fix{fix("v", sec(0), east(0), 0), fix("v", sec(1), east(4), 0), fix("v", sec(2), east(8), 0)}
	if _, st := trace.Clean(in, trace.CleanOptions{MaxSpeedKmh: 30}); st.Teleport == 0 {
		t.Fatalf("30 km/h limit: %v, want teleports", st)
	}
	if out, st := trace.Clean(in, trace.CleanOptions{MaxSpeedKmh: -1}); len(out) != 3 || st.Teleport != 0 {
		t.Fatalf("disabled filter: kept %d, %v", len(out), st)
	}
	if err := (trace.CleanOptions{Order: "shuffle"}).Validate(); err == nil {
		t.Fatal("unknown order validated")
	}
}

func TestCleanGroupsVehicles(t *testing.T) {
	in := []trace.Fix{
		fix("b", sec(2), east(2), 0), fix("a", sec(5), east(0), 0), fix("b", sec(1), east(1), 0),
		fix("a", sec(6), east(1), 0), fix("b", sec(3), geo.Point{Lat: math.NaN(), Lon: 1}, 0),
		fix("c", sec(1), geo.Point{Lat: 0, Lon: 200}, 0),
	}
	out, st := trace.Clean(in, trace.CleanOptions{})
	var ids []string
	for _, f := range out {
		ids = append(ids, f.Vehicle)
	}
	if !slices.Equal(ids, []string{"a", "a", "b", "b"}) || !slices.Equal(times(out), []int64{5, 6, 1, 2}) {
		t.Fatalf("got %v %v", ids, times(out))
	}
	if st.NonFinite != 1 || st.OutOfRange != 1 || st.Unsorted != 1 {
		t.Fatalf("stats %v", st)
	}
	checkStats(t, st)
}

// TestCleanRandomTraces checks the post-conditions of Clean on random walks
// with shuffled rows, duplicates and glitches.
func TestCleanRandomTraces(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for n := 0; n < 200; n++ {
		var in []trace.Fix
		p := geo.Point{Lat: 37.7, Lon: -122.4}
		tm := sec(0)
		for i := 0; i < 50; i++ {
			tm = tm.Add(time.Duration(rng.IntN(90)) * time.Second)
			p.Lat += (rng.Float64() - 0.5) * 0.002
			p.Lon += (rng.Float64() - 0.5) * 0.002
			q := p
			switch rng.IntN(12) {
			case 0:
				q = geo.Point{Lat: rng.Float64()*180 - 90, Lon: rng.Float64()*360 - 180}
			case 1:
				q = geo.Point{}
			}
			in = append(in, fix([]string{"x", "y"}[rng.IntN(2)], tm, q, 0))
		}
		rng.Shuffle(len(in)/4, func(i, j int) { in[i], in[j] = in[j], in[i] })
		for _, order := range []string{trace.OrderSort, trace.OrderDrop} {
			out, st := trace.Clean(in, trace.CleanOptions{Order: order})
			checkCleanTrace(t, out, trace.DefaultMaxSpeedKmh)
			checkStats(t, st)
			if st.Kept != len(out) || st.Records != len(in) {
				t.Fatalf("kept %d/%d records %d/%d", st.Kept, len(out), st.Records, len(in))
			}
		}
	}
}
