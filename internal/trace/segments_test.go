package trace_test

import (
	"testing"
	"time"

	"github.com/ridehail/dispatch/internal/trace"
)

func TestSegments(t *testing.T) {
	var fs []trace.Fix
	for _, s := range []int64{0, 60, 120, 120 + 601, 120 + 661, 5000, 5600, 6201} {
		fs = append(fs, fix("v", sec(s), east(0), 0))
	}
	fs = append(fs, fix("w", sec(6202), east(0), 0))
	lens := func(segs [][]trace.Fix) []int {
		var out []int
		for _, s := range segs {
			out = append(out, len(s))
		}
		return out
	}
	for _, tc := range []struct {
		gap  time.Duration
		want []int
	}{
		{0, []int{3, 2, 2, 1, 1}},                // default 10 min: 601 s and 601 s split, 600 s does not
		{10 * time.Minute, []int{3, 2, 2, 1, 1}}, // same
		{time.Hour, []int{5, 3, 1}},
		{30 * time.Second, []int{1, 1, 1, 1, 1, 1, 1, 1, 1}},
	} {
		segs := trace.Segments(fs, tc.gap)
		got := lens(segs)
		if len(got) != len(tc.want) {
			t.Fatalf("gap %v: segment lengths %v, want %v", tc.gap, got, tc.want)
		}
		for i := range got {
			if got[i] != tc.want[i] {
				t.Fatalf("gap %v: segment lengths %v, want %v", tc.gap, got, tc.want)
			}
		}
		n := 0
		for _, s := range segs {
			n += len(s)
		}
		if n != len(fs) {
			t.Fatalf("segments hold %d fixes, want %d", n, len(fs))
		}
	}
	if segs := trace.Segments(nil, 0); segs != nil {
		t.Fatalf("Segments(nil) = %v", segs)
	}
	// appending to a segment must not overwrite the next one
	segs := trace.Segments(fs, 0)
	_ = append(segs[0], fix("x", sec(0), east(0), 0))
	if segs[1][0].Vehicle != "v" {
		t.Fatal("segments share capacity")
	}
}
