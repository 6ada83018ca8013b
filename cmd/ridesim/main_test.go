package main

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ridehail/dispatch/internal/server"
)

func TestRunFailsClearly(t *testing.T) {
	cases := map[string]struct {
		args []string
		want string
	}{
		"missing traces":  {[]string{"-traces", "/nonexistent/dir"}, "read traces"},
		"bad flag":        {[]string{"-speed", "-3"}, "-speed must be > 0"},
		"unreachable":     {[]string{"-traces", "../../testdata/cabspotting", "-server", "http://127.0.0.1:1"}, "server unreachable"},
		"bad tz":          {[]string{"-tz", "Mars/Olympus"}, "-tz"},
		"bad start":       {[]string{"-start", "yesterday"}, "-start"},
		"point and lat":   {[]string{"-point-col", "2", "-lat-col", "1"}, "not both"},
		"speed NaN":       {[]string{"-speed", "NaN"}, "-speed must be > 0"},
		"duration < 0":    {[]string{"-duration", "-1h"}, "-duration must not be negative"},
		"trips elsewhere": {[]string{"-traces", "../../testdata/cabspotting", "-offline", "-trips", "../../internal/trace/testdata/trips.csv", "-trips-header", "-trips-time-col", "pickup_datetime", "-trips-lat-col", "pickup_latitude", "-trips-lon-col", "pickup_longitude", "-trips-time-format", "2006-01-02 15:04:05"}, "none of the"},
		"empty window":    {[]string{"-traces", "../../testdata/cabspotting", "-start", "2001-01-01T00:00:00Z", "-end", "2001-01-02T00:00:00Z"}, "no vehicle"},
	}
	for name, c := range cases {
		var out, errb bytes.Buffer
		err := run(context.Background(), c.args, &out, &errb)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want it to mention %q", name, err, c.want)
		}
	}
}

// -point-col replaces the default -lat-col and -lon-col.
func TestPointColumnFlag(t *testing.T) {
	o, err := parse([]string{"-delim", ";", "-id-col", "0", "-time-col", "1", "-point-col", "2", "-occ-col", ""}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if f := o.format; f.PointCol != "2" || f.LatCol != "" || f.LonCol != "" {
		t.Fatalf("format: point %q, lat %q, lon %q; want 2, none, none", f.PointCol, f.LatCol, f.LonCol)
	}
}

func TestRunInProcessWritesSummaryAndJSON(t *testing.T) {
	dir := t.TempDir()
	js := filepath.Join(dir, "r.json")
	var out, errb bytes.Buffer
	err := run(context.Background(), []string{"-traces", "../../testdata/cabspotting", "-duration", "10m", "-speed", "300", "-drain", "10m", "-json", js, "-no-progress"}, &out, &errb)
	if err != nil {
		t.Fatalf("run: %v\n%s", err, errb.String())
	}
	for _, want := range []string{"ridesim summary", "requests", "matched", "time to match", "pickup distance", "offers per ride", "fixes dropped       teleport=7"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, out.String())
		}
	}
	b, err := os.ReadFile(js)
	if err != nil {
		t.Fatal(err)
	}
	var rep struct {
		Requests int64 `json:"requests"`
		Matched  int64 `json:"matched"`
		Vehicles int   `json:"vehicles"`
	}
	if err := json.Unmarshal(b, &rep); err != nil || rep.Requests == 0 || rep.Matched == 0 || rep.Vehicles == 0 {
		t.Fatalf("json report: %s %v", b, err)
	}
}

// TestTwoRunsAgainstOneServer: a second replay against the same running
// server must not get the first run's rides back (idempotency keys) nor
// have its fixes refused as older than the first run's (driver ids).
func TestTwoRunsAgainstOneServer(t *testing.T) {
	srv, err := server.New(context.Background(), server.Config{Addr: "127.0.0.1:0", RidesPerHour: -1, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown(context.Background())
	for i := 0; i < 2; i++ {
		js := filepath.Join(t.TempDir(), "r.json")
		var out, errb bytes.Buffer
		err := run(context.Background(), []string{"-server", srv.URL(), "-traces", "../../testdata/cabspotting", "-duration", "10m", "-speed", "300", "-drain", "10m", "-json", js, "-no-progress"}, &out, &errb)
		if err != nil {
			t.Fatalf("run %d: %v\n%s", i, err, errb.String())
		}
		b, _ := os.ReadFile(js)
		var rep struct {
			Requests      int64   `json:"requests"`
			Matched       int64   `json:"matched"`
			FixesRejected int64   `json:"fixes_rejected"`
			OffersPerRide float64 `json:"offers_per_ride"`
		}
		if err := json.Unmarshal(b, &rep); err != nil || rep.Requests == 0 || rep.Matched == 0 || rep.FixesRejected != 0 || rep.OffersPerRide == 0 {
			t.Fatalf("run %d: %s %v", i, b, err)
		}
	}
	if got := srv.Engine().Stats().RidesRequested; got < 2*4 {
		t.Fatalf("the server saw %d requests over two runs", got)
	}
}

// Against a server that wants tokens, a run without -auth-secret (or with
// another secret) fails at once and says what to pass.
func TestRunAgainstAuthServerNeedsSecret(t *testing.T) {
	srv, err := server.New(context.Background(), server.Config{Addr: "127.0.0.1:0", AuthSecret: "the-servers-secret", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown(context.Background())
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "requires tokens (it runs with an auth secret): pass the same secret with -auth-secret"},
		{[]string{"-auth-secret", "another-secret"}, "-auth-secret is not the server's secret"},
	} {
		args := append([]string{"-server", srv.URL(), "-traces", "../../testdata/cabspotting", "-duration", "1m", "-no-progress"}, tc.args...)
		var out, errb bytes.Buffer
		err := run(context.Background(), args, &out, &errb)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: err = %v, want it to say %q", tc.args, err, tc.want)
		}
	}
}
