// Command ridesim replays real taxi GPS traces as a fleet of driver apps and
// real trips as rider requests against dispatchd, over real WebSockets and
// HTTP, and reports what dispatch achieved. With no -server it starts an
// engine in-process on a loopback port (still over real sockets), on a
// clock that runs at the replay speed so the engine's timeouts are in
// simulated time.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"golang.org/x/term"

	"github.com/ridehail/dispatch/dispatch"
	"github.com/ridehail/dispatch/internal/server"
	"github.com/ridehail/dispatch/internal/sim"
	"github.com/ridehail/dispatch/internal/trace"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "ridesim:", err)
		os.Exit(1)
	}
}

type options struct {
	server, traces, trips, jsonOut, authSecret string
	policy                                     string
	format                                     trace.Format
	tripFormat                                 trace.TripFormat
	tz, tripsTZ                                string
	clean                                      trace.CleanOptions
	sim                                        sim.Config
	start, end                                 string
	duration                                   time.Duration
	noProgress, verbose, offline               bool
}

func parse(args []string, stderr io.Writer) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("ridesim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.server, "server", "", "dispatchd base URL (http://host:port); empty starts an engine in-process on a loopback port")
	fs.StringVar(&o.traces, "traces", "testdata/cabspotting", "comma-separated trace files, directories or globs (.gz and .bz2 are decompressed)")
	fs.StringVar(&o.trips, "trips", "", "trip file (pickup time, pickup, optional drop-off); empty derives trips from the traces' occupancy flag")
	fs.StringVar(&o.jsonOut, "json", "", "write the summary as JSON to this file")
	fs.StringVar(&o.authSecret, "auth-secret", "", "mint JWTs with this HS256 secret (for a server started with -auth-secret)")
	fs.StringVar(&o.policy, "policy", "broadcast", "in-process engine's matching policy: broadcast or sequential")
	fs.BoolVar(&o.noProgress, "no-progress", false, "print no progress while running")
	fs.BoolVar(&o.offline, "offline", false, "run the engine in-process on a virtual clock, with no sockets: deterministic for a -seed, as fast as the CPU allows")
	fs.BoolVar(&o.verbose, "v", false, "log the in-process server's warnings")

	f := &o.format
	fs.StringVar(&f.Layout, "format", trace.LayoutPoints, "trace layout: points (a fix per row) or polyline (a trip per row)")
	fs.StringVar(&f.Delimiter, "delim", "space", "field delimiter: , ; tab | space (runs of blanks) or any single character")
	fs.BoolVar(&f.Header, "header", false, "the first row names the columns")
	fs.IntVar(&f.Columns, "columns", 0, "exact number of fields per row (0: any)")
	fs.StringVar(&f.IDCol, "id-col", "", "vehicle id column (index or header name); empty: from the file name")
	fs.StringVar(&f.TimeCol, "time-col", "3", "time column")
	fs.StringVar(&f.LatCol, "lat-col", "0", "latitude column")
	fs.StringVar(&f.LonCol, "lon-col", "1", "longitude column")
	fs.StringVar(&f.PointCol, "point-col", "", "column holding both coordinates, e.g. 'POINT(41.88 12.48)' or '41.88 12.48' (replaces -lat-col and -lon-col; lat first unless -lonlat)")
	fs.StringVar(&f.OccCol, "occ-col", "2", "occupancy column (0/1); empty: none")
	fs.StringVar(&f.SpeedCol, "speed-col", "", "speed column (optional)")
	fs.StringVar(&f.HeadingCol, "heading-col", "", "heading column (optional)")
	fs.StringVar(&f.PolylineCol, "polyline-col", "", "polyline column (polyline layout)")
	fs.BoolVar(&f.LonLat, "lonlat", false, "polyline and -point-col points are [lon, lat]")
	fs.DurationVar(&f.Interval, "interval", 0, "time between polyline points, e.g. 15s")
	fs.StringVar(&f.FileID, "id-from-file", "new_*.txt", "file-name pattern whose * is the vehicle id (when -id-col is empty); also selects a directory's files")
	fs.StringVar(&f.TimeFormat, "time-format", trace.TimeUnix, "unix, unixms, rfc3339 or a Go layout such as '2006-01-02 15:04:05'")
	fs.StringVar(&o.tz, "tz", "UTC", "time zone of zone-less times, e.g. Europe/Rome")

	t := &o.tripFormat
	fs.StringVar(&t.Layout, "trips-format", trace.LayoutPoints, "trip file layout: points or polyline")
	fs.StringVar(&t.Delimiter, "trips-delim", ",", "trip file delimiter")
	fs.BoolVar(&t.Header, "trips-header", false, "the trip file's first row names the columns")
	fs.StringVar(&t.IDCol, "trips-id-col", "", "trip id column (optional)")
	fs.StringVar(&t.TimeCol, "trips-time-col", "0", "pickup time column")
	fs.StringVar(&t.LatCol, "trips-lat-col", "1", "pickup latitude column")
	fs.StringVar(&t.LonCol, "trips-lon-col", "2", "pickup longitude column")
	fs.StringVar(&t.DropLatCol, "trips-drop-lat-col", "", "drop-off latitude column (optional)")
	fs.StringVar(&t.DropLonCol, "trips-drop-lon-col", "", "drop-off longitude column (optional)")
	fs.StringVar(&t.DropTimeCol, "trips-drop-time-col", "", "drop-off time column (optional)")
	fs.StringVar(&t.PolylineCol, "trips-polyline-col", "", "trip polyline column (polyline layout)")
	fs.BoolVar(&t.LonLat, "trips-lonlat", false, "trip polyline points are [lon, lat]")
	fs.DurationVar(&t.Interval, "trips-interval", 0, "trip polyline point interval")
	fs.StringVar(&t.TimeFormat, "trips-time-format", trace.TimeUnix, "trip file time format")
	fs.StringVar(&o.tripsTZ, "trips-tz", "UTC", "trip file time zone for zone-less times")

	fs.Float64Var(&o.clean.MaxSpeedKmh, "max-speed", trace.DefaultMaxSpeedKmh, "drop jumps faster than this (km/h)")
	fs.StringVar(&o.clean.Order, "order", trace.OrderSort, "out-of-order rows: sort (per vehicle) or drop (non-increasing timestamps)")

	s := &o.sim
	fs.Float64Var(&s.Speed, "speed", 60, "replay speed-up over real time")
	fs.Int64Var(&s.Seed, "seed", 1, "random seed (accept choices, delays)")
	fs.Float64Var(&s.AcceptProb, "accept", 0.9, "probability a driver accepts an offer")
	fs.DurationVar(&s.AcceptDelayMin, "accept-delay-min", 2*time.Second, "shortest simulated delay before answering an offer")
	fs.DurationVar(&s.AcceptDelayMax, "accept-delay-max", 8*time.Second, "longest simulated delay before answering an offer")
	fs.Float64Var(&s.DriveSpeedKmh, "drive-speed", 0, "speed for driving assigned trips in km/h (0: learned from the traces)")
	fs.DurationVar(&s.FixEvery, "fix-every", 10*time.Second, "simulated time between a vehicle's fixes (raised to speed × 100ms so that a vehicle sends at most 10 frames per real second)")
	fs.StringVar(&s.RunID, "run-id", "", "prefix of this run's rider ids and idempotency keys (and, with -server, driver ids); default: random")
	fs.DurationVar(&s.Gap, "gap", 10*time.Minute, "a trace silent longer than this puts the vehicle offline")
	fs.DurationVar(&s.Drain, "drain", 5*time.Minute, "simulated time after the window for open rides to finish")
	fs.StringVar(&o.start, "start", "", "window start (RFC 3339); default: the first fix")
	fs.StringVar(&o.end, "end", "", "window end (RFC 3339); default: the last fix")
	fs.DurationVar(&o.duration, "duration", 0, "window length from the start (overrides -end)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	var err error
	if f.Location, err = time.LoadLocation(o.tz); err != nil {
		return nil, fmt.Errorf("-tz: %w", err)
	}
	if t.Location, err = time.LoadLocation(o.tripsTZ); err != nil {
		return nil, fmt.Errorf("-trips-tz: %w", err)
	}
	if f.IDCol != "" {
		f.FileID = ""
	}
	if f.PointCol != "" {
		// -point-col replaces the default lat and lon columns; given
		// explicitly as well, Validate refuses the mix.
		set := map[string]bool{}
		fs.Visit(func(fl *flag.Flag) { set[fl.Name] = true })
		if !set["lat-col"] {
			f.LatCol = ""
		}
		if !set["lon-col"] {
			f.LonCol = ""
		}
	}
	if o.start != "" {
		if s.Start, err = time.Parse(time.RFC3339, o.start); err != nil {
			return nil, fmt.Errorf("-start: %w", err)
		}
	}
	if o.end != "" {
		if s.End, err = time.Parse(time.RFC3339, o.end); err != nil {
			return nil, fmt.Errorf("-end: %w", err)
		}
	}
	if !(s.Speed > 0) || math.IsInf(s.Speed, 0) || !(s.AcceptProb >= 0 && s.AcceptProb <= 1) {
		return nil, errors.New("-speed must be > 0 and -accept within [0, 1]")
	}
	if o.duration < 0 {
		return nil, errors.New("-duration must not be negative")
	}
	if err := f.Validate(); err != nil {
		return nil, err
	}
	if o.offline && o.server != "" {
		return nil, errors.New("-offline runs in-process: drop -server")
	}
	if s.RunID == "" {
		b := make([]byte, 3)
		_, _ = rand.Read(b)
		s.RunID = "run" + hex.EncodeToString(b)
	}
	// A server that outlives the run remembers drivers' last fixes: fresh
	// driver ids let a second replay start earlier in the same traces.
	s.PrefixDrivers = o.server != ""
	return o, nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parse(args, stderr)
	if err != nil {
		return err
	}
	in, err := load(ctx, o, stderr)
	if err != nil {
		return err
	}
	if len(in.Trips) == 0 {
		fmt.Fprintln(stderr, "ridesim: warning: no trips to request: the traces have no occupancy column (-occ-col) with 0→1 changes and no -trips file was given; only drivers will be replayed")
	}
	start, end, err := sim.Window(o.sim, in)
	if err != nil {
		return err
	}
	o.sim.Start, o.sim.End = start, end
	if o.duration > 0 {
		o.sim.End = start.Add(o.duration)
	}
	if err := checkTripsInWindow(o, in.Trips); err != nil {
		return err
	}
	if o.offline {
		fmt.Fprintf(stdout, "ridesim: %d vehicles, %d fixes kept of %d, %d trips; window %s → %s, offline on a virtual clock (policy %s)\n",
			len(in.Vehicles), in.CleanStats.Kept, in.CleanStats.Records, len(in.Trips),
			o.sim.Start.UTC().Format(time.RFC3339), o.sim.End.UTC().Format(time.RFC3339), o.policy)
		rep, err := sim.RunOffline(ctx, o.sim, in, dispatch.Config{Policy: o.policy})
		if err != nil {
			return err
		}
		return o.finish(stdout, rep)
	}
	fmt.Fprintf(stdout, "ridesim: %d vehicles, %d fixes kept of %d, %d trips; window %s → %s at %.0fx (≈%s wall)\n",
		len(in.Vehicles), in.CleanStats.Kept, in.CleanStats.Records, len(in.Trips),
		o.sim.Start.UTC().Format(time.RFC3339), o.sim.End.UTC().Format(time.RFC3339), o.sim.Speed,
		(time.Duration(float64(o.sim.End.Sub(o.sim.Start)+o.sim.Drain) / o.sim.Speed)).Round(time.Second))

	clock := sim.NewClock(o.sim.Start, o.sim.Speed)
	base := o.server
	if base == "" {
		srv, err := startInProcess(ctx, o, clock, stderr)
		if err != nil {
			return err
		}
		defer func() { _ = srv.Shutdown(context.Background()) }()
		base = srv.URL()
		fmt.Fprintf(stdout, "ridesim: in-process dispatchd at %s (engine clock at %.0fx)\n", base, o.sim.Speed)
	}
	client, err := sim.NewOnline(ctx, base, o.authSecret)
	if err != nil {
		return err
	}
	if isTerminal(stderr) && !o.noProgress {
		o.sim.Progress, o.sim.ProgressBar = stderr, true
	} else if !o.noProgress {
		o.sim.Progress = stderr
	}
	rep, err := sim.Run(ctx, o.sim, in, client, clock)
	if err != nil {
		return err
	}
	if err := o.finish(stdout, rep); err != nil {
		return err
	}
	if ctx.Err() != nil {
		return errors.New("interrupted")
	}
	return nil
}

// finish prints the summary and writes the JSON report.
func (o *options) finish(stdout io.Writer, rep sim.Report) error {
	rep.WriteSummary(stdout)
	if o.jsonOut == "" {
		return nil
	}
	f, err := os.Create(o.jsonOut)
	if err != nil {
		return fmt.Errorf("-json: %w", err)
	}
	if err := rep.WriteJSON(f); err != nil {
		f.Close()
		return fmt.Errorf("-json: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("-json: %w", err)
	}
	return nil
}

func load(ctx context.Context, o *options, warn io.Writer) (sim.Input, error) {
	paths := strings.Split(o.traces, ",")
	vs, st, err := trace.Load(ctx, paths, o.format, o.clean)
	if err != nil {
		return sim.Input{}, fmt.Errorf("read traces: %w", err)
	}
	if len(vs) == 0 {
		msg := fmt.Sprintf("no usable fixes in %s (%s)", o.traces, st)
		if why := trace.Explain(paths, o.format); why != "" {
			msg += "; " + why
		}
		return sim.Input{}, errors.New(msg)
	}
	in := sim.Input{Vehicles: vs, CleanStats: st}
	if o.trips == "" {
		var ts trace.TripStats
		for _, v := range vs {
			trips, s := trace.DeriveTrips(v.Fixes, trace.TripOptions{Gap: o.sim.Gap})
			in.Trips = append(in.Trips, trips...)
			ts = ts.Add(s)
		}
		in.TripStats = ts
		return in, nil
	}
	f, _, err := trace.Open(o.trips)
	if err != nil {
		return sim.Input{}, fmt.Errorf("read trips: %w", err)
	}
	defer f.Close()
	trips, st, err := trace.ReadTrips(f, o.tripFormat)
	if err != nil {
		return sim.Input{}, fmt.Errorf("read trips %s: %w", o.trips, err)
	}
	if len(trips) == 0 {
		return sim.Input{}, fmt.Errorf("no usable trips in %s (%s): check -trips-time-format and the -trips-*-col flags", o.trips, st)
	}
	if n := st.Dropped() - st.Blank; n > 0 {
		var why []string
		for _, d := range st.Drops() {
			if d.N > 0 && d.Name != "blank" {
				why = append(why, fmt.Sprintf("%s=%d", d.Name, d.N))
			}
		}
		fmt.Fprintf(warn, "ridesim: %s: %d trips kept, %d rows dropped (%s)\n", o.trips, len(trips), n, strings.Join(why, " "))
	}
	in.Trips, in.TripFileStats = trips, st
	return in, nil
}

// startInProcess starts a dispatch server on a loopback port whose engine
// runs on the simulation clock.
func startInProcess(ctx context.Context, o *options, clock *sim.Clock, stderr io.Writer) (*server.Server, error) {
	level := slog.LevelError
	if o.verbose {
		level = slog.LevelWarn
	}
	srv, err := server.New(ctx, server.Config{
		Addr:         "127.0.0.1:0",
		AuthSecret:   o.authSecret,
		RidesPerHour: -1,
		Engine:       dispatch.Config{Policy: o.policy, TickInterval: 20 * time.Millisecond},
		Logger:       slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level})),
		Clock:        clock,
	})
	if err != nil {
		return nil, err
	}
	if err := srv.Start(ctx); err != nil {
		return nil, err
	}
	return srv, nil
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// checkTripsInWindow fails a run whose trip file has trips but none inside
// the replay window: a wrong -trips-tz or -trips-time-format, or traces
// and trips from different periods. Such a run would replay drivers only
// and report 0 requests.
func checkTripsInWindow(o *options, trips []trace.Trip) error {
	if o.trips == "" || len(trips) == 0 {
		return nil
	}
	first, last := trips[0].PickupT, trips[0].PickupT
	for _, tr := range trips {
		if !tr.PickupT.Before(o.sim.Start) && tr.PickupT.Before(o.sim.End) {
			return nil
		}
		first, last = minTime(first, tr.PickupT), maxTime(last, tr.PickupT)
	}
	f := func(t time.Time) string { return t.UTC().Format(time.RFC3339) }
	return fmt.Errorf("none of the %d trips in %s falls inside the replay window %s → %s (the trips span %s → %s): check -trips-tz, -trips-time-format, -start/-end, or that traces and trips cover the same period",
		len(trips), o.trips, f(o.sim.Start), f(o.sim.End), f(first), f(last))
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
