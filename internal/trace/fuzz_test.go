package trace_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ridehail/dispatch/internal/trace"
)

// fuzzFormats are the layouts the fuzz targets exercise, picked by a byte.
var fuzzFormats = []trace.Format{
	cabspotting,
	{Header: true, IDCol: "vehicle_id", TimeCol: "timestamp", LatCol: "latitude", LonCol: "longitude",
		SpeedCol: "speed_kmh", HeadingCol: "heading", TimeFormat: trace.TimeRFC3339},
	{Delimiter: ";", Header: true, IDCol: "taxi", TimeCol: "data_ora", LatCol: "lat", LonCol: "lon",
		TimeFormat: "2006-01-02 15:04:05", Location: time.FixedZone("CET", 3600)},
	{Delimiter: "\t", IDCol: "0", TimeCol: "1", LatCol: "2", LonCol: "3", OccCol: "4", TimeFormat: trace.TimeUnixMs},
	porto,
	romeWKT,
	{Header: true, IDCol: "id", TimeCol: "time", LatCol: "lat", LonCol: "lon", MaxLineBytes: 64},
}

func addFixtureSeeds(f *testing.F, n int) {
	files, err := filepath.Glob("testdata/*.*")
	if err != nil || len(files) == 0 {
		f.Fatalf("no fixtures: %v", err)
	}
	for _, name := range files {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		for i := 0; i < n; i++ {
			f.Add(data, uint8(i))
		}
	}
	f.Add([]byte(""), uint8(0))
	f.Add([]byte("\xef\xbb\xbf\r\n\"\n"), uint8(1))
	f.Add([]byte("1 2 3 4 5\n\"a\"b c d\n"), uint8(0))
}

func FuzzReadFixes(f *testing.F) {
	addFixtureSeeds(f, len(fuzzFormats))
	f.Fuzz(func(t *testing.T, data []byte, sel uint8) {
		format := fuzzFormats[int(sel)%len(fuzzFormats)]
		fixes, st, err := trace.ReadFixes(bytes.NewReader(data), "new_fuzz.txt", format)
		if err != nil {
			// only a header lacking a named column may fail
			if !format.Header {
				t.Fatalf("error without header: %v", err)
			}
			return
		}
		checkStats(t, st)
		if st.Kept != len(fixes) || st.Rows > bytes.Count(data, []byte{'\n'})+1 {
			t.Fatalf("stats %v for %d fixes, %d bytes", st, len(fixes), len(data))
		}
		for _, fx := range fixes {
			if fx.P.Validate() != nil || (fx.P.Lat == 0 && fx.P.Lon == 0) {
				t.Fatalf("bad fix %+v", fx)
			}
		}
		for _, order := range []string{trace.OrderSort, trace.OrderDrop} {
			cleaned, cst := trace.Clean(fixes, trace.CleanOptions{Order: order})
			checkStats(t, cst)
			checkCleanTrace(t, cleaned, trace.DefaultMaxSpeedKmh)
			_, tst := trace.DeriveTrips(cleaned, trace.TripOptions{})
			checkTripStats(t, tst)
			n := 0
			for _, s := range trace.Segments(cleaned, 0) {
				n += len(s)
			}
			if n != len(cleaned) {
				t.Fatalf("segments hold %d of %d fixes", n, len(cleaned))
			}
		}
	})
}

var fuzzTripFormats = []trace.TripFormat{
	{Header: true, IDCol: "trip_id", TimeCol: "pickup_datetime", LatCol: "pickup_latitude", LonCol: "pickup_longitude",
		DropTimeCol: "dropoff_datetime", DropLatCol: "dropoff_latitude", DropLonCol: "dropoff_longitude",
		TimeFormat: "2006-01-02 15:04:05"},
	{Layout: trace.LayoutPolyline, Header: true, IDCol: "TRIP_ID", VehicleCol: "TAXI_ID", TimeCol: "TIMESTAMP",
		PolylineCol: "POLYLINE", LonLat: true, Interval: 15 * time.Second},
	{Delimiter: "space", TimeCol: "3", LatCol: "0", LonCol: "1", DropLatCol: "4", DropLonCol: "5", Columns: 6},
}

func FuzzReadTrips(f *testing.F) {
	addFixtureSeeds(f, len(fuzzTripFormats))
	f.Fuzz(func(t *testing.T, data []byte, sel uint8) {
		format := fuzzTripFormats[int(sel)%len(fuzzTripFormats)]
		trips, st, err := trace.ReadTrips(bytes.NewReader(data), format)
		if err != nil {
			if !format.Header {
				t.Fatalf("error without header: %v", err)
			}
			return
		}
		checkStats(t, st)
		if st.Kept != len(trips) {
			t.Fatalf("kept %d, returned %d", st.Kept, len(trips))
		}
		for _, tr := range trips {
			if tr.Pickup.Validate() != nil || (tr.HasDropoff && tr.Dropoff.Validate() != nil) {
				t.Fatalf("bad trip %+v", tr)
			}
			if !tr.DropoffT.IsZero() && tr.DropoffT.Before(tr.PickupT) {
				t.Fatalf("trip ends before it starts: %+v", tr)
			}
		}
	})
}
