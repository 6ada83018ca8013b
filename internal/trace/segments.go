package trace

import "time"

// DefaultGap is the default longest time between two fixes of one online
// stretch of a vehicle.
const DefaultGap = 10 * time.Minute

// Segments splits a cleaned trace at every point where the time between
// consecutive fixes exceeds gap (DefaultGap when gap <= 0), and where the
// vehicle changes: in between, the vehicle is offline and a replay must not
// interpolate. The segments are subslices of fixes, in order; none is empty.
func Segments(fixes []Fix, gap time.Duration) [][]Fix {
	if gap <= 0 {
		gap = DefaultGap
	}
	var segs [][]Fix
	start := 0
	for i := 1; i < len(fixes); i++ {
		if fixes[i].Vehicle != fixes[i-1].Vehicle || fixes[i].T.Sub(fixes[i-1].T) > gap {
			segs = append(segs, fixes[start:i:i])
			start = i
		}
	}
	if start < len(fixes) {
		segs = append(segs, fixes[start:len(fixes):len(fixes)])
	}
	return segs
}
