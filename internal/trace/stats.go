package trace

import (
	"fmt"
	"strings"
)

// Stats counts what reading or cleaning did with its input. Every dropped
// row or record is counted under exactly one reason, so for reading
//
//	Rows    == Blank + Malformed + Empty + (rows that yielded records)
//	Records == Kept + NonFinite + OutOfRange + ZeroZero
//
// and for cleaning (Rows == 0, Records == number of input fixes)
//
//	Records == Kept + NonFinite + OutOfRange + ZeroZero + DuplicateTime + NonIncreasing + Teleport
//
// Stats of several files are summed with Add; the Stats of consecutive
// stages (read, then clean) are chained with Then.
type Stats struct {
	Rows    int `json:"rows"`    // lines read, the header excluded, blank lines included
	Records int `json:"records"` // candidates decoded: a fix per points row or polyline point, a trip per trip row
	Kept    int `json:"kept"`    // records that passed

	Blank         int `json:"blank"`          // empty or whitespace-only lines
	Malformed     int `json:"malformed"`      // wrong field count, unparsable value, unclosed quote, over-long line
	Empty         int `json:"empty"`          // polyline rows with no points
	NonFinite     int `json:"non_finite"`     // NaN or Inf coordinate
	OutOfRange    int `json:"out_of_range"`   // latitude or longitude outside its range
	ZeroZero      int `json:"zero_zero"`      // the point (0, 0)
	DuplicateTime int `json:"duplicate_time"` // same time as the kept fix before it
	NonIncreasing int `json:"non_increasing"` // earlier than the kept fix before it (Order "drop"), or a trip ending before it starts
	Teleport      int `json:"teleport"`       // implausibly fast jump (see the package doc)

	Unsorted int `json:"unsorted"` // informational, not a drop: fixes earlier than a fix before them in input order
}

// Count is one named counter.
type Count struct {
	Name string
	N    int
}

// Drops lists the drop reasons by name in a fixed order, zeros included.
func (s Stats) Drops() []Count {
	return []Count{
		{"blank", s.Blank},
		{"malformed", s.Malformed},
		{"empty", s.Empty},
		{"non_finite", s.NonFinite},
		{"out_of_range", s.OutOfRange},
		{"zero_zero", s.ZeroZero},
		{"duplicate_time", s.DuplicateTime},
		{"non_increasing", s.NonIncreasing},
		{"teleport", s.Teleport},
	}
}

// Dropped is the sum of all drop reasons.
func (s Stats) Dropped() int {
	n := 0
	for _, c := range s.Drops() {
		n += c.N
	}
	return n
}

// Add returns the sum of s and o, counter by counter.
func (s Stats) Add(o Stats) Stats {
	s.Rows += o.Rows
	s.Records += o.Records
	s.Kept += o.Kept
	s.Blank += o.Blank
	s.Malformed += o.Malformed
	s.Empty += o.Empty
	s.NonFinite += o.NonFinite
	s.OutOfRange += o.OutOfRange
	s.ZeroZero += o.ZeroZero
	s.DuplicateTime += o.DuplicateTime
	s.NonIncreasing += o.NonIncreasing
	s.Teleport += o.Teleport
	s.Unsorted += o.Unsorted
	return s
}

// Then returns the Stats of running the stage counted by next on the records
// that s kept: Rows and Records come from s, Kept from next, and the drop
// counters are summed.
func (s Stats) Then(next Stats) Stats {
	out := s.Add(next)
	out.Rows, out.Records, out.Kept = s.Rows, s.Records, next.Kept
	return out
}

// String formats the counters on one line, drop reasons that are zero
// omitted, e.g. "rows=120 records=118 kept=110 blank=2 teleport=8".
func (s Stats) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "rows=%d records=%d kept=%d", s.Rows, s.Records, s.Kept)
	for _, c := range s.Drops() {
		if c.N != 0 {
			fmt.Fprintf(&b, " %s=%d", c.Name, c.N)
		}
	}
	if s.Unsorted != 0 {
		fmt.Fprintf(&b, " unsorted=%d", s.Unsorted)
	}
	return b.String()
}

// TripStats counts what DeriveTrips did. Every pickup (a 0→1 occupancy
// change) ends in exactly one counter:
//
//	Pickups == Trips + Merged + Flicker + Gap + Unfinished + Unknown
type TripStats struct {
	Pickups    int `json:"pickups"`    // 0→1 occupancy changes seen
	Trips      int `json:"trips"`      // trips returned
	Merged     int `json:"merged"`     // pickups that only ended a free-flag flicker and were joined to the trip before
	Flicker    int `json:"flicker"`    // trips shorter than the minimum duration or distance
	Gap        int `json:"gap"`        // trips spanning a gap in the trace
	Unfinished int `json:"unfinished"` // trips still occupied at the end of the trace
	Unknown    int `json:"unknown"`    // trips interrupted by a fix with unknown occupancy
}

// Drops lists the reasons a pickup did not become a trip, by name, in a
// fixed order, zeros included.
func (s TripStats) Drops() []Count {
	return []Count{
		{"merged", s.Merged},
		{"flicker", s.Flicker},
		{"gap", s.Gap},
		{"unfinished", s.Unfinished},
		{"unknown_occupancy", s.Unknown},
	}
}

// Add returns the sum of s and o, counter by counter.
func (s TripStats) Add(o TripStats) TripStats {
	s.Pickups += o.Pickups
	s.Trips += o.Trips
	s.Merged += o.Merged
	s.Flicker += o.Flicker
	s.Gap += o.Gap
	s.Unfinished += o.Unfinished
	s.Unknown += o.Unknown
	return s
}

// String formats the counters on one line, zero drop reasons omitted.
func (s TripStats) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "pickups=%d trips=%d", s.Pickups, s.Trips)
	for _, c := range s.Drops() {
		if c.N != 0 {
			fmt.Fprintf(&b, " %s=%d", c.Name, c.N)
		}
	}
	return b.String()
}
