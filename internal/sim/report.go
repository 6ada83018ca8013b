package sim

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/ridehail/dispatch/internal/trace"
)

// collector gathers a run's figures from every agent goroutine.
type collector struct {
	vehicles, online                   atomic.Int64
	fixesSent, fixesRejected           atomic.Int64
	requests, requestErrors            atomic.Int64
	matched, noDriver, cancelled, done atomic.Int64
	accepts, declines, lostRaces       atomic.Int64
	disconnects                        atomic.Int64

	mu          sync.Mutex
	matchTimes  []float64
	pickupDists []float64
	offers      map[string]int
	protoErrs   map[string]int
	reqErrs     map[string]int
}

func newCollector() *collector {
	return &collector{offers: map[string]int{}, protoErrs: map[string]int{}, reqErrs: map[string]int{}}
}

func (c *collector) offer(rideID string) {
	c.mu.Lock()
	c.offers[rideID]++
	c.mu.Unlock()
}

func (c *collector) protocolError(code string) {
	c.mu.Lock()
	c.protoErrs[code]++
	c.mu.Unlock()
}

func (c *collector) requestError(code string) {
	c.requestErrors.Add(1)
	c.mu.Lock()
	c.reqErrs[code]++
	c.mu.Unlock()
}

func (c *collector) matchedAfter(seconds float64) {
	c.matched.Add(1)
	c.mu.Lock()
	c.matchTimes = append(c.matchTimes, seconds)
	c.mu.Unlock()
}

func (c *collector) pickupDistance(m float64) {
	c.mu.Lock()
	c.pickupDists = append(c.pickupDists, m)
	c.mu.Unlock()
}

// Report is a run's summary. Times are simulated seconds.
type Report struct {
	Vehicles      int            `json:"vehicles"`
	FixesRead     int            `json:"fixes_read"`
	FixesKept     int            `json:"fixes_kept"`
	FixesDropped  map[string]int `json:"fixes_dropped"`
	FixesSent     int64          `json:"fixes_sent"`
	FixesRejected int64          `json:"fixes_rejected"`
	Trips         int            `json:"trips"`
	TripsDropped  map[string]int `json:"trips_dropped,omitempty"`

	Requests      int64          `json:"requests"`
	RequestErrors map[string]int `json:"request_errors,omitempty"`
	Matched       int64          `json:"matched"`
	MatchedPct    float64        `json:"matched_pct"`
	NoDriver      int64          `json:"no_driver"`
	NoDriverPct   float64        `json:"no_driver_pct"`
	Cancelled     int64          `json:"cancelled"`
	Completed     int64          `json:"completed"`
	OpenAtEnd     int64          `json:"open_at_end"` // requested, not completed, no_driver or cancelled

	TimeToMatchP50 float64 `json:"time_to_match_p50_s"`
	TimeToMatchP95 float64 `json:"time_to_match_p95_s"`
	TimeToMatchP99 float64 `json:"time_to_match_p99_s"`
	PickupDistMean float64 `json:"pickup_distance_mean_m"`
	PickupDistP95  float64 `json:"pickup_distance_p95_m"`
	OffersPerRide  float64 `json:"offers_per_ride"`

	Accepts        int64          `json:"accepts"`
	Declines       int64          `json:"declines"`
	RevokedTaken   int64          `json:"revoked_taken"`
	Disconnects    int64          `json:"disconnects"`
	ProtocolErrors map[string]int `json:"protocol_errors"`

	SimStart   string  `json:"sim_start"`
	SimEnd     string  `json:"sim_end"`
	Speed      float64 `json:"speed"`
	WallClockS float64 `json:"wall_clock_s"`
	Seed       int64   `json:"seed"`
}

func (c *collector) report(clean trace.Stats, trips int, tripStats trace.TripStats, tripFile trace.Stats) Report {
	c.mu.Lock()
	defer c.mu.Unlock()
	r := Report{
		Vehicles: int(c.vehicles.Load()), FixesRead: clean.Records + clean.Malformed + clean.Empty, FixesKept: clean.Kept,
		FixesDropped: map[string]int{}, FixesSent: c.fixesSent.Load(), FixesRejected: c.fixesRejected.Load(),
		Trips: trips, Requests: c.requests.Load(), RequestErrors: copyMap(c.reqErrs),
		Matched: c.matched.Load(), NoDriver: c.noDriver.Load(), Cancelled: c.cancelled.Load(),
		Completed: c.done.Load(), Accepts: c.accepts.Load(), Declines: c.declines.Load(),
		RevokedTaken: c.lostRaces.Load(), Disconnects: c.disconnects.Load(), ProtocolErrors: copyMap(c.protoErrs),
	}
	for _, d := range clean.Drops() {
		if d.Name != "blank" { // blank lines were never fixes: read = kept + dropped
			r.FixesDropped[d.Name] = d.N
		}
	}
	if tripStats.Flicker+tripStats.Gap+tripStats.Unfinished+tripStats.Unknown > 0 {
		r.TripsDropped = map[string]int{"flicker": tripStats.Flicker, "gap": tripStats.Gap,
			"unfinished": tripStats.Unfinished, "unknown": tripStats.Unknown}
	}
	for _, d := range tripFile.Drops() {
		if d.N > 0 && d.Name != "blank" {
			if r.TripsDropped == nil {
				r.TripsDropped = map[string]int{}
			}
			r.TripsDropped[d.Name] += d.N
		}
	}
	if r.Requests > 0 {
		r.MatchedPct = round2(100 * float64(r.Matched) / float64(r.Requests))
		r.NoDriverPct = round2(100 * float64(r.NoDriver) / float64(r.Requests))
		r.OpenAtEnd = r.Requests - r.Completed - r.NoDriver - r.Cancelled
	}
	r.TimeToMatchP50 = round2(percentile(c.matchTimes, 50))
	r.TimeToMatchP95 = round2(percentile(c.matchTimes, 95))
	r.TimeToMatchP99 = round2(percentile(c.matchTimes, 99))
	r.PickupDistMean = round2(mean(c.pickupDists))
	r.PickupDistP95 = round2(percentile(c.pickupDists, 95))
	if len(c.offers) > 0 {
		total := 0
		for _, n := range c.offers {
			total += n
		}
		r.OffersPerRide = round2(float64(total) / float64(len(c.offers)))
	}
	return r
}

func copyMap(m map[string]int) map[string]int {
	out := make(map[string]int, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func round2(x float64) float64 {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return 0
	}
	return math.Round(x*100) / 100
}

func mean(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := 0.0
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}

// percentile is the nearest-rank percentile of xs (0 for none).
func percentile(xs []float64, p float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	rank := int(math.Ceil(p / 100 * float64(len(s))))
	if rank < 1 {
		rank = 1
	}
	return s[rank-1]
}

// WriteSummary prints the report for people.
func (r Report) WriteSummary(w io.Writer) {
	pace := fmt.Sprintf("%.0fx", r.Speed)
	if r.Speed == 0 {
		pace = "offline, virtual clock"
	}
	fmt.Fprintf(w, "\n== ridesim summary (%s → %s simulated, %s, %.1fs wall, seed %d)\n", r.SimStart, r.SimEnd, pace, r.WallClockS, r.Seed)
	fmt.Fprintf(w, "vehicles            %d\n", r.Vehicles)
	fmt.Fprintf(w, "fixes read / kept   %d / %d\n", r.FixesRead, r.FixesKept)
	fmt.Fprintf(w, "fixes dropped       %s\n", kv(r.FixesDropped))
	fmt.Fprintf(w, "fixes sent          %d, interpolated along the traces (rejected by server: %d)\n", r.FixesSent, r.FixesRejected)
	fmt.Fprintf(w, "trips in window     %d (input trips dropped by cleaning: %s)\n", r.Trips, kv(r.TripsDropped))
	fmt.Fprintf(w, "requests            %d (errors: %s)\n", r.Requests, kv(r.RequestErrors))
	fmt.Fprintf(w, "matched             %d (%.1f%%)\n", r.Matched, r.MatchedPct)
	fmt.Fprintf(w, "no_driver           %d (%.1f%%)\n", r.NoDriver, r.NoDriverPct)
	fmt.Fprintf(w, "cancelled           %d\n", r.Cancelled)
	fmt.Fprintf(w, "completed trips     %d\n", r.Completed)
	fmt.Fprintf(w, "still open at end   %d (matching or on a trip when the run stopped)\n", r.OpenAtEnd)
	fmt.Fprintf(w, "time to match       p50 %.1fs  p95 %.1fs  p99 %.1fs\n", r.TimeToMatchP50, r.TimeToMatchP95, r.TimeToMatchP99)
	fmt.Fprintf(w, "pickup distance     mean %.0fm  p95 %.0fm\n", r.PickupDistMean, r.PickupDistP95)
	fmt.Fprintf(w, "offers per ride     %.2f (accepts %d, declines %d, revoked as taken %d)\n", r.OffersPerRide, r.Accepts, r.Declines, r.RevokedTaken)
	fmt.Fprintf(w, "protocol errors     %s\n", kv(r.ProtocolErrors))
	fmt.Fprintf(w, "disconnects         %d\n", r.Disconnects)
}

// WriteJSON writes the report as indented JSON.
func (r Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

func kv(m map[string]int) string {
	if len(m) == 0 {
		return "none"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		if m[k] > 0 {
			parts = append(parts, fmt.Sprintf("%s=%d", k, m[k]))
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, " ")
}
