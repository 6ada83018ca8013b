package sim_test

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/ridehail/dispatch/dispatch"
	"github.com/ridehail/dispatch/internal/server"
	"github.com/ridehail/dispatch/internal/sim"
	"github.com/ridehail/dispatch/internal/trace"
)

var cabspotting = trace.Format{Delimiter: "space", Columns: 4, LatCol: "0", LonCol: "1", OccCol: "2", TimeCol: "3", TimeFormat: trace.TimeUnix, FileID: "new_*.txt"}

func loadExcerpt(t *testing.T) sim.Input {
	t.Helper()
	vs, st, err := trace.Load(context.Background(), []string{"../../testdata/cabspotting"}, cabspotting, trace.CleanOptions{})
	if err != nil {
		t.Fatal(err)
	}
	in := sim.Input{Vehicles: vs, CleanStats: st}
	for _, v := range vs {
		trips, ts := trace.DeriveTrips(v.Fixes, trace.TripOptions{})
		in.Trips = append(in.Trips, trips...)
		in.TripStats = in.TripStats.Add(ts)
	}
	return in
}

// TestReplayExcerpt replays the real cabs for a short window against an
// in-process engine over real sockets and checks that rides were requested,
// matched and driven.
func TestReplayExcerpt(t *testing.T) {
	in := loadExcerpt(t)
	if len(in.Vehicles) != 25 || len(in.Trips) != 347 {
		t.Fatalf("excerpt: %d vehicles, %d trips", len(in.Vehicles), len(in.Trips))
	}
	cfg := sim.Config{Speed: 200, Seed: 7, Drain: 20 * time.Minute}
	start, _, err := sim.Window(cfg, in)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Start, cfg.End = start, start.Add(20*time.Minute)
	clock := sim.NewClock(start, cfg.Speed)
	srv, err := server.New(context.Background(), server.Config{
		Addr: "127.0.0.1:0", RidesPerHour: -1, Clock: clock,
		Engine: dispatch.Config{TickInterval: 10 * time.Millisecond},
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown(context.Background())
	client, err := sim.NewOnline(context.Background(), srv.URL(), "")
	if err != nil {
		t.Fatal(err)
	}
	rep, err := sim.Run(context.Background(), cfg, in, client, clock)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", rep)
	if rep.Vehicles < 20 || rep.Trips < 20 {
		t.Fatalf("window too thin: %d vehicles, %d trips", rep.Vehicles, rep.Trips)
	}
	if rep.Requests != int64(rep.Trips) {
		t.Fatalf("requested %d of %d trips (errors %v)", rep.Requests, rep.Trips, rep.RequestErrors)
	}
	if rep.Matched < rep.Requests*8/10 {
		t.Fatalf("matched only %d of %d", rep.Matched, rep.Requests)
	}
	if rep.Completed == 0 || rep.FixesSent == 0 || rep.OffersPerRide < 1 {
		t.Fatalf("no trip completed or no fixes/offers: %+v", rep)
	}
	if rep.FixesRejected != 0 || len(rep.ProtocolErrors) != 0 {
		t.Fatalf("the server refused simulator traffic: rejected %d, errors %v", rep.FixesRejected, rep.ProtocolErrors)
	}
	if rep.FixesDropped["teleport"] != 7 {
		t.Fatalf("cleaning counts: %v", rep.FixesDropped)
	}
	st := srv.Engine().Stats()
	if st.RidesRequested != rep.Requests || st.RidesAssigned < rep.Matched {
		t.Fatalf("engine saw %d requests / %d assigned, simulator %d / %d", st.RidesRequested, st.RidesAssigned, rep.Requests, rep.Matched)
	}
}

func TestWindowAndSpeed(t *testing.T) {
	if _, _, err := sim.Window(sim.Config{}, sim.Input{}); err == nil {
		t.Fatal("empty input accepted")
	}
	in := loadExcerpt(t)
	s, e, err := sim.Window(sim.Config{}, in)
	if err != nil || s.Format(time.RFC3339) != "2008-05-23T02:00:01Z" || !e.After(s.Add(3*time.Hour)) {
		t.Fatalf("window %v %v %v", s, e, err)
	}
	v := sim.LearnSpeed(in.Vehicles, 10*time.Minute)
	if v < 3 || v > 20 {
		t.Fatalf("learned speed %v m/s is not a city taxi's", v)
	}
}

func TestUnreachableServer(t *testing.T) {
	_, err := sim.NewOnline(context.Background(), "http://127.0.0.1:1", "")
	if err == nil {
		t.Fatal("unreachable server accepted")
	}
	if _, err := sim.NewOnline(context.Background(), "ftp://x", ""); err == nil {
		t.Fatal("bad URL accepted")
	}
}

// TestOfflineDeterministic runs the real excerpt on the virtual clock
// twice with one seed: the reports are identical, and rides are matched.
func TestOfflineDeterministic(t *testing.T) {
	in := loadExcerpt(t)
	cfg := sim.Config{Seed: 3}
	start, _, err := sim.Window(cfg, in)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Start, cfg.End = start, start.Add(2*time.Hour)
	a, err := sim.RunOffline(context.Background(), cfg, in, dispatch.Config{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := sim.RunOffline(context.Background(), cfg, in, dispatch.Config{})
	if err != nil {
		t.Fatal(err)
	}
	a.WallClockS, b.WallClockS = 0, 0
	if fmt.Sprintf("%+v", a) != fmt.Sprintf("%+v", b) {
		t.Fatalf("same seed, different runs:\n%+v\n%+v", a, b)
	}
	t.Logf("%+v", a)
	dropped := 0
	for _, n := range a.FixesDropped {
		dropped += n
	}
	if a.FixesRead != a.FixesKept+dropped || a.FixesRead == 0 {
		t.Fatalf("fixes read %d != kept %d + dropped %d (%v)", a.FixesRead, a.FixesKept, dropped, a.FixesDropped)
	}
	if a.Requests < 100 || a.Matched < a.Requests*8/10 || a.Completed == 0 || a.FixesRejected != 0 || len(a.ProtocolErrors) != 0 {
		t.Fatalf("offline run: %+v", a)
	}
	cfg.Seed = 4
	c, err := sim.RunOffline(context.Background(), cfg, in, dispatch.Config{Policy: dispatch.PolicySequential})
	if err != nil {
		t.Fatal(err)
	}
	if c.OffersPerRide >= a.OffersPerRide {
		t.Fatalf("sequential sent %.2f offers per ride, broadcast %.2f", c.OffersPerRide, a.OffersPerRide)
	}
}
