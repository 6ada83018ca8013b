// Package sim replays real vehicle traces as a fleet of driver apps and
// real trips as rider requests against a dispatch server, over real
// WebSockets and HTTP, and reports what dispatch achieved.
//
// Time: simulated time starts at the window's start and runs Speed times
// faster than the wall clock. Every vehicle follows its recorded trace
// (positions interpolated every FixEvery of simulated time) while it is
// free; it is offline in the gaps of its trace. Offers are accepted with
// probability AcceptProb after a random delay. An assigned vehicle drives a
// straight line to the pickup and then to the drop-off at its speed,
// reporting arrived, start and complete. After a trip the vehicle, available
// again, drives back toward where its recorded trace is at that moment (at
// 1.5× its speed, so that it catches up; parked while the trace is in a
// gap) and follows the trace again once it reaches it: it never jumps
// faster than it could drive.
//
// Determinism: every random choice comes from a per-vehicle generator
// seeded from Seed and the vehicle id; network timing may still vary.
package sim

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"
	"math/rand/v2"
	"sort"
	"sync"
	"time"

	"github.com/ridehail/dispatch/geo"
	"github.com/ridehail/dispatch/internal/trace"
)

// Config tunes a run. Zero fields take the documented defaults.
type Config struct {
	// Speed is the speed-up over real time. 60.
	Speed float64
	// Seed seeds every random choice. 1.
	Seed int64
	// AcceptProb is the probability a driver accepts an offer. 0.9.
	AcceptProb float64
	// AcceptDelayMin/Max bound the simulated delay before a driver
	// answers an offer. 2 s and 8 s.
	AcceptDelayMin, AcceptDelayMax time.Duration
	// DriveSpeedKmh is the speed vehicles drive assigned trips at; 0
	// learns it from the traces (median moving speed).
	DriveSpeedKmh float64
	// FixEvery is the simulated interval between a vehicle's fixes. 10 s,
	// raised so that no vehicle sends more than 10 fixes per real second.
	FixEvery time.Duration
	// Gap splits a trace: a vehicle is offline across a longer silence.
	// 10 min.
	Gap time.Duration
	// BoardTime is the simulated time between arrived and start. 30 s.
	BoardTime time.Duration
	// Start and End bound the simulated window; zero takes the data's.
	Start, End time.Time
	// Drain is the simulated time granted after End for open rides to
	// finish matching. 5 min.
	Drain time.Duration
	// RunID prefixes the rider ids and idempotency keys of this run
	// ("<RunID>-rider-7"), so that a second run against the same server
	// does not replay the first run's rides. With PrefixDrivers the driver
	// ids get it too ("<RunID>-abboip"): the server remembers each
	// driver's last fix, and a new replay starts earlier in the trace.
	RunID         string
	PrefixDrivers bool
	// Progress receives progress lines (nil: none). When ProgressBar is
	// set, a terminal progress bar is drawn instead.
	Progress    io.Writer
	ProgressBar bool
}

func (c *Config) setDefaults() {
	if c.Speed <= 0 {
		c.Speed = 60
	}
	if c.Seed == 0 {
		c.Seed = 1
	}
	if c.AcceptProb == 0 {
		c.AcceptProb = 0.9
	}
	if c.AcceptDelayMin == 0 && c.AcceptDelayMax == 0 {
		c.AcceptDelayMin, c.AcceptDelayMax = 2*time.Second, 8*time.Second
	}
	if c.AcceptDelayMax < c.AcceptDelayMin {
		c.AcceptDelayMax = c.AcceptDelayMin
	}
	if c.FixEvery <= 0 {
		c.FixEvery = 10 * time.Second
	}
	if minStep := time.Duration(c.Speed * float64(100*time.Millisecond)); c.FixEvery < minStep {
		c.FixEvery = minStep
	}
	if c.Gap <= 0 {
		c.Gap = 10 * time.Minute
	}
	if c.BoardTime <= 0 {
		c.BoardTime = 30 * time.Second
	}
	if c.Drain <= 0 {
		c.Drain = 5 * time.Minute
	}
}

func (c *Config) prefixed(id string) string {
	if c.RunID == "" {
		return id
	}
	return c.RunID + "-" + id
}

func (c *Config) driverID(vehicle string) string {
	if !c.PrefixDrivers {
		return vehicle
	}
	return c.prefixed(vehicle)
}

// Input is what a run replays.
type Input struct {
	Vehicles   []trace.Vehicle // cleaned traces
	Trips      []trace.Trip
	CleanStats trace.Stats
	TripStats  trace.TripStats
	// TripFileStats counts the rows of a trip file (when trips come from
	// one) and why the unusable ones were dropped.
	TripFileStats trace.Stats
}

// Window returns the simulated window cfg and in select: cfg's bounds, else
// the span of the traces.
func Window(cfg Config, in Input) (start, end time.Time, err error) {
	var first, last time.Time
	for _, v := range in.Vehicles {
		if len(v.Fixes) == 0 {
			continue
		}
		if f := v.Fixes[0].T; first.IsZero() || f.Before(first) {
			first = f
		}
		if l := v.Fixes[len(v.Fixes)-1].T; l.After(last) {
			last = l
		}
	}
	if first.IsZero() {
		return start, end, fmt.Errorf("no usable fixes in the input")
	}
	start, end = first, last
	if !cfg.Start.IsZero() {
		start = cfg.Start
	}
	if !cfg.End.IsZero() {
		end = cfg.End
	}
	if !end.After(start) {
		return start, end, fmt.Errorf("empty window: %s to %s", start.Format(time.RFC3339), end.Format(time.RFC3339))
	}
	return start, end, nil
}

// LearnSpeed returns the median speed (m/s) between consecutive fixes of
// moving vehicles (1–40 m/s), or 7 m/s (~25 km/h) with too little data.
func LearnSpeed(vs []trace.Vehicle, gap time.Duration) float64 {
	var speeds []float64
	for _, v := range vs {
		for i := 1; i < len(v.Fixes); i++ {
			a, b := v.Fixes[i-1], v.Fixes[i]
			dt := b.T.Sub(a.T)
			if dt <= 0 || dt > gap {
				continue
			}
			s := geo.Distance(a.P, b.P) / dt.Seconds()
			if s >= 1 && s <= 40 {
				speeds = append(speeds, s)
			}
		}
	}
	if len(speeds) < 10 {
		return 7
	}
	sort.Float64s(speeds)
	return speeds[len(speeds)/2]
}

// Run replays in against srv in real time scaled by cfg.Speed and returns
// the report. clock must be the clock the run is timed on (NewClock at the
// window's start); an in-process server may share it.
func Run(ctx context.Context, cfg Config, in Input, srv Server, clock *Clock) (Report, error) {
	cfg.setDefaults()
	start, end, err := Window(cfg, in)
	if err != nil {
		return Report{}, err
	}
	speed := cfg.DriveSpeedKmh / 3.6
	if speed <= 0 {
		speed = LearnSpeed(in.Vehicles, cfg.Gap)
	}
	wall0 := time.Now()
	col := newCollector()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	var wg sync.WaitGroup
	for _, v := range in.Vehicles {
		if len(v.Fixes) == 0 || !v.Fixes[len(v.Fixes)-1].T.After(start) || v.Fixes[0].T.After(end) {
			continue
		}
		col.vehicles.Add(1)
		h := fnv.New64a()
		h.Write([]byte(v.ID))
		ag := &vehicle{
			id: cfg.driverID(v.ID), segs: trace.Segments(v.Fixes, cfg.Gap), cfg: &cfg, col: col, clock: clock,
			rng:    rand.New(rand.NewPCG(uint64(cfg.Seed), h.Sum64())),
			speed:  speed,
			offers: map[string]float64{},
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			ag.run(ctx, srv, clock, end.Add(cfg.Drain))
		}()
	}
	if col.vehicles.Load() == 0 {
		return Report{}, fmt.Errorf("no vehicle has fixes inside the window")
	}

	trips := make([]trace.Trip, 0, len(in.Trips))
	for _, t := range in.Trips {
		if !t.PickupT.Before(start) && t.PickupT.Before(end) {
			trips = append(trips, t)
		}
	}
	sort.SliceStable(trips, func(i, j int) bool { return trips[i].PickupT.Before(trips[j].PickupT) })
	riders := &riders{cfg: &cfg, col: col, clock: clock, srv: srv, rng: rand.New(rand.NewPCG(uint64(cfg.Seed), 0x5eed))}
	var rwg sync.WaitGroup
	rwg.Add(1)
	go func() {
		defer rwg.Done()
		riders.run(ctx, trips, end.Add(cfg.Drain))
	}()

	progDone := make(chan struct{})
	go func() {
		defer close(progDone)
		progress(ctx, &cfg, col, clock, start, end, len(trips))
	}()

	rwg.Wait() // all trips requested and settled, or the drain ended
	cancel()
	wg.Wait()
	<-progDone

	rep := col.report(in.CleanStats, len(trips), in.TripStats, in.TripFileStats)
	rep.SimStart, rep.SimEnd = start.UTC().Format(time.RFC3339), end.UTC().Format(time.RFC3339)
	rep.Speed, rep.Seed = cfg.Speed, cfg.Seed
	rep.WallClockS = round2(time.Since(wall0).Seconds())
	return rep, nil
}

// riders turns trips into ride requests and follows each ride.
type riders struct {
	cfg   *Config
	col   *collector
	clock *Clock
	srv   Server
	rng   *rand.Rand
}

func (r *riders) run(ctx context.Context, trips []trace.Trip, deadline time.Time) {
	var wg sync.WaitGroup
	defer wg.Wait()
	follow, cancel := context.WithCancel(ctx)
	defer cancel()
	for i, t := range trips {
		if !r.clock.SleepUntil(ctx, t.PickupT) {
			return
		}
		dropoff := t.Dropoff
		if !t.HasDropoff {
			dropoff = randomDropoff(r.rng, t.Pickup)
		}
		riderID := r.cfg.prefixed(fmt.Sprintf("rider-%d", i+1))
		rideID, err := r.srv.RequestRide(ctx, riderID, t.Pickup, dropoff, r.cfg.prefixed(fmt.Sprintf("sim-%d", i+1)))
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			r.col.requestError(ErrorCode(err))
			continue
		}
		r.col.requests.Add(1)
		requested := r.clock.Now()
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.follow(follow, rideID, riderID, requested)
		}()
	}
	// Let open rides settle until the deadline.
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	timer := time.NewTimer(max(r.clock.Real(deadline.Sub(r.clock.Now())), 0))
	defer timer.Stop()
	select {
	case <-done:
	case <-timer.C:
	case <-ctx.Done():
	}
}

// follow watches one ride over the rider socket until it ends.
func (r *riders) follow(ctx context.Context, rideID, riderID string, requested time.Time) {
	c, err := r.srv.DialRider(ctx, rideID, riderID)
	if err != nil {
		if ctx.Err() == nil {
			r.col.protocolError("rider_dial")
		}
		return
	}
	defer func() { _ = c.Close() }()
	w := &rideWatch{requested: requested}
	for {
		select {
		case <-ctx.Done():
			return
		case m, ok := <-c.Messages():
			if !ok {
				return
			}
			if m.Type != "ride" {
				continue
			}
			var rm rideMsg
			if json.Unmarshal(m.Raw, &rm) != nil {
				r.col.protocolError("bad_ride")
				continue
			}
			if r.col.rideStatus(w, rm.Ride.Status, r.clock.Now()) {
				return
			}
		}
	}
}

// rideWatch is what a rider remembers of its ride.
type rideWatch struct {
	requested time.Time
	matched   bool
	done      bool
}

// rideStatus records a status the rider saw and reports whether the ride
// has ended.
func (c *collector) rideStatus(w *rideWatch, status string, now time.Time) bool {
	if w.done {
		return true
	}
	switch status {
	case "assigned", "arrived", "in_progress":
		if !w.matched {
			w.matched = true
			c.matchedAfter(now.Sub(w.requested).Seconds())
		}
		return false
	case "completed":
		c.done.Add(1)
	case "no_driver":
		c.noDriver.Add(1)
	case "cancelled":
		c.cancelled.Add(1)
	default:
		return false
	}
	w.done = true
	return true
}
