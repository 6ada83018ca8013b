package trace_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/iotest"
	"time"
	_ "time/tzdata" // the zones the fixtures use, whatever the host has

	"github.com/ridehail/dispatch/geo"
	"github.com/ridehail/dispatch/internal/trace"
)

// cabspotting is the Cabspotting layout: "lat lon occupancy unix_time",
// space separated, no header, vehicle id from new_<id>.txt.
var cabspotting = trace.Format{
	Delimiter: "space", Columns: 4,
	LatCol: "0", LonCol: "1", OccCol: "2", TimeCol: "3",
	TimeFormat: trace.TimeUnix, FileID: "new_*.txt",
}

func mustLocation(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func readFixture(t *testing.T, name string, f trace.Format) ([]trace.Fix, trace.Stats) {
	t.Helper()
	file, err := os.Open(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	fixes, st, err := trace.ReadFixes(file, name, f)
	if err != nil {
		t.Fatalf("ReadFixes(%s): %v", name, err)
	}
	checkStats(t, st)
	if st.Kept != len(fixes) {
		t.Fatalf("kept %d, returned %d", st.Kept, len(fixes))
	}
	return fixes, st
}

func wantStats(t *testing.T, got, want trace.Stats) {
	t.Helper()
	if got != want {
		t.Fatalf("stats %v\nwant  %v", got, want)
	}
}

func TestReadCabspotting(t *testing.T) {
	fixes, st := readFixture(t, "new_testcab.txt", cabspotting)
	wantStats(t, st, trace.Stats{Rows: 19, Records: 15, Kept: 12, Blank: 1, Malformed: 3, NonFinite: 1, OutOfRange: 1, ZeroZero: 1})
	first := fixes[0]
	if first.Vehicle != "testcab" || first.T != time.Unix(1211033530, 0) ||
		first.P != (geo.Point{Lat: 37.75153, Lon: -122.39447}) || first.Occupied != trace.OccFree ||
		!math.IsNaN(first.Speed) || !math.IsNaN(first.Heading) {
		t.Fatalf("first fix %+v", first)
	}
	if fixes[2].Occupied != trace.OccOccupied {
		t.Fatalf("third fix %+v", fixes[2])
	}

	cleaned, cst := trace.Clean(fixes, trace.CleanOptions{})
	total := st.Then(cst)
	wantStats(t, total, trace.Stats{Rows: 19, Records: 15, Kept: 10, Blank: 1, Malformed: 3, NonFinite: 1, OutOfRange: 1,
		ZeroZero: 1, DuplicateTime: 1, Teleport: 1, Unsorted: 1})
	checkCleanTrace(t, cleaned, trace.DefaultMaxSpeedKmh)
	checkStats(t, total)

	trips, tst := trace.DeriveTrips(cleaned, trace.TripOptions{})
	want := trace.Trip{Vehicle: "testcab", PickupT: time.Unix(1211033674, 0), Pickup: geo.Point{Lat: 37.75149, Lon: -122.39447},
		HasDropoff: true, Dropoff: geo.Point{Lat: 37.748, Lon: -122.391}, DropoffT: time.Unix(1211033914, 0)}
	if len(trips) != 1 || trips[0] != want || tst.Pickups != 1 {
		t.Fatalf("trips %+v %v", trips, tst)
	}
}

func TestReadHeaderLonLatRFC3339(t *testing.T) {
	f := trace.Format{
		Delimiter: ",", Header: true,
		IDCol: "vehicle_id", TimeCol: "timestamp", LatCol: "latitude", LonCol: "LONGITUDE",
		SpeedCol: "speed_kmh", HeadingCol: "heading", TimeFormat: trace.TimeRFC3339,
	}
	fixes, st := readFixture(t, "lonlat_rfc3339.csv", f)
	wantStats(t, st, trace.Stats{Rows: 7, Records: 4, Kept: 4, Malformed: 3})
	f0, f1, f2, f3 := fixes[0], fixes[1], fixes[2], fixes[3]
	if f0.Vehicle != "car-7" || !f0.T.Equal(time.Date(2014, 1, 9, 8, 0, 0, 0, time.UTC)) ||
		f0.P != (geo.Point{Lat: 39.9087, Lon: 116.3975}) || f0.Speed != 12.5 || f0.Heading != 90 || f0.Occupied != trace.OccUnknown {
		t.Fatalf("fix 0 %+v", f0)
	}
	if !math.IsNaN(f1.Speed) || f1.Heading != 92 {
		t.Fatalf("fix 1 %+v", f1)
	}
	if f2.Vehicle != "car-9" || !f2.T.Equal(time.Date(2014, 1, 9, 8, 0, 10, 0, time.UTC)) || f2.Speed != 0 || !math.IsNaN(f2.Heading) {
		t.Fatalf("fix 2 %+v", f2)
	}
	if !f3.T.Equal(time.Date(2014, 1, 9, 8, 0, 10, 5e8, time.UTC)) {
		t.Fatalf("fix 3 %+v", f3)
	}
}

func TestReadSemicolonLocalLayout(t *testing.T) {
	f := trace.Format{
		Delimiter: ";", Header: true, IDCol: "taxi", TimeCol: "data_ora", LatCol: "lat", LonCol: "lon",
		TimeFormat: "2006-01-02 15:04:05", Location: mustLocation(t, "Europe/Rome"),
	}
	fixes, st := readFixture(t, "semicolon_rome.csv", f)
	wantStats(t, st, trace.Stats{Rows: 4, Records: 3, Kept: 3, Malformed: 1})
	want := []time.Time{
		time.Date(2014, 1, 31, 23, 0, 0, 0, time.UTC),  // CET, UTC+1
		time.Date(2014, 1, 31, 23, 0, 15, 0, time.UTC), // CET
		time.Date(2014, 8, 1, 10, 30, 0, 0, time.UTC),  // CEST, UTC+2
	}
	for i, fx := range fixes {
		if !fx.T.Equal(want[i]) {
			t.Errorf("fix %d at %v, want %v", i, fx.T.UTC(), want[i])
		}
	}
	if fixes[2].Vehicle != "8" || fixes[2].P != (geo.Point{Lat: 41.9028, Lon: 12.4964}) {
		t.Fatalf("fix 2 %+v", fixes[2])
	}
}

// The Rome taxi traces (CRAWDAD roma/taxi) hold both coordinates in one
// WKT field, latitude first: "156;2014-02-01 00:00:00.739166+01;POINT(41.88 12.48)".
var romeWKT = trace.Format{
	Delimiter: ";", IDCol: "0", TimeCol: "1", PointCol: "2",
	TimeFormat: "2006-01-02 15:04:05.999999999-07",
}

func TestReadPointColumn(t *testing.T) {
	fixes, st := readFixture(t, "wkt_rome.txt", romeWKT)
	// POINT with one number, POINT with three: malformed; (0, 0): dropped.
	wantStats(t, st, trace.Stats{Rows: 8, Records: 6, Kept: 5, Malformed: 2, ZeroZero: 1})
	want := []trace.Fix{
		{Vehicle: "156", P: geo.Point{Lat: 41.8836718276551, Lon: 12.4877775603346}, T: time.Date(2014, 1, 31, 23, 0, 0, 739166000, time.UTC)},
		{Vehicle: "187", P: geo.Point{Lat: 41.9285433829254, Lon: 12.4690293864173}},
		{Vehicle: "156", P: geo.Point{Lat: 41.8837, Lon: 12.4878}},
		{Vehicle: "187", P: geo.Point{Lat: 41.9287, Lon: 12.4692}},
		{Vehicle: "187", P: geo.Point{Lat: 41.9288, Lon: 12.4693}, T: time.Date(2014, 1, 31, 23, 0, 19, 0, time.UTC)},
	}
	if len(fixes) != len(want) {
		t.Fatalf("%d fixes, want %d", len(fixes), len(want))
	}
	for i, w := range want {
		if fixes[i].Vehicle != w.Vehicle || fixes[i].P != w.P || (!w.T.IsZero() && !fixes[i].T.Equal(w.T)) {
			t.Errorf("fix %d: %s %v at %v, want %s %v at %v", i, fixes[i].Vehicle, fixes[i].P, fixes[i].T.UTC(), w.Vehicle, w.P, w.T)
		}
	}
	// WKT proper is x y, i.e. lon lat: -lonlat reads it so.
	lonlat := romeWKT
	lonlat.LonLat = true
	in := "9;2014-02-01 00:00:00+01;POINT(12.4877 41.8836)\n"
	got, _, err := trace.ReadFixes(strings.NewReader(in), "x.txt", lonlat)
	if err != nil || len(got) != 1 || got[0].P != (geo.Point{Lat: 41.8836, Lon: 12.4877}) {
		t.Fatalf("lon-lat point: %+v, %v", got, err)
	}
}

func TestReadUnixMillisTab(t *testing.T) {
	f := trace.Format{Delimiter: "tab", IDCol: "0", TimeCol: "1", LatCol: "2", LonCol: "3", OccCol: "4", TimeFormat: trace.TimeUnixMs}
	fixes, st := readFixture(t, "unixms.tsv", f)
	wantStats(t, st, trace.Stats{Rows: 4, Records: 3, Kept: 3, Malformed: 1})
	want := []time.Time{time.UnixMilli(1401235200000), time.UnixMilli(1401235201500), time.Unix(1401235202, 250500000)}
	for i, fx := range fixes {
		if !fx.T.Equal(want[i]) {
			t.Errorf("fix %d at %v, want %v", i, fx.T, want[i])
		}
	}
	if fixes[2].Vehicle != "cab2" || fixes[2].Occupied != trace.OccFree || fixes[0].Occupied != trace.OccOccupied {
		t.Fatalf("fixes %+v", fixes)
	}
}

var porto = trace.Format{
	Layout: trace.LayoutPolyline, Delimiter: ",", Header: true,
	IDCol: "TAXI_ID", TimeCol: "TIMESTAMP", PolylineCol: "POLYLINE", LonLat: true, Interval: 15 * time.Second,
}

func TestReadPortoPolyline(t *testing.T) {
	fixes, st := readFixture(t, "porto.csv", porto)
	wantStats(t, st, trace.Stats{Rows: 5, Records: 9, Kept: 8, Malformed: 1, Empty: 1, ZeroZero: 1})
	if len(fixes) != 8 {
		t.Fatalf("%d fixes", len(fixes))
	}
	first, fourth := fixes[0], fixes[3]
	if first.Vehicle != "20000589" || first.T != time.Unix(1372636858, 0) || first.P != (geo.Point{Lat: 41.141412, Lon: -8.618643}) {
		t.Fatalf("first %+v", first)
	}
	if fourth.T != time.Unix(1372636858+45, 0) || fourth.P != (geo.Point{Lat: 41.143815, Lon: -8.622153}) {
		t.Fatalf("fourth %+v", fourth)
	}
	// the (0,0) point is dropped but keeps its slot in time
	last := fixes[7]
	if last.Vehicle != "20000337" || last.T != time.Unix(1372637091+30, 0) {
		t.Fatalf("last %+v", last)
	}
}

func TestReadCRLFWithBOM(t *testing.T) {
	f := trace.Format{Header: true, IDCol: "id", TimeCol: "time", LatCol: "lat", LonCol: "lon"}
	fixes, st := readFixture(t, "crlf_bom.csv", f)
	wantStats(t, st, trace.Stats{Rows: 5, Records: 3, Kept: 3, Blank: 2})
	if !slices.Equal([]int64{fixes[0].T.Unix(), fixes[1].T.Unix(), fixes[2].T.Unix()}, []int64{1000, 1010, 1020}) ||
		fixes[2].P != (geo.Point{Lat: 52.5202, Lon: 13.4052}) || fixes[0].Vehicle != "v1" {
		t.Fatalf("fixes %+v", fixes)
	}
}

func TestReadFixesEdgeCases(t *testing.T) {
	pts := trace.Format{TimeCol: "0", LatCol: "1", LonCol: "2"}
	for _, tc := range []struct {
		name  string
		in    string
		f     trace.Format
		want  trace.Stats
		first time.Time
	}{
		{"empty", "", pts, trace.Stats{}, time.Time{}},
		{"header only", "t,lat,lon\r\n", trace.Format{Header: true, TimeCol: "t", LatCol: "lat", LonCol: "lon"}, trace.Stats{}, time.Time{}},
		{"no trailing newline", "5,1,2", pts, trace.Stats{Rows: 1, Records: 1, Kept: 1}, time.Unix(5, 0)},
		{"fractional unix", "5.25,1,2\n", pts, trace.Stats{Rows: 1, Records: 1, Kept: 1}, time.Unix(5, 25e7)},
		{"exponent unix", "1.2e9,1,2\n", pts, trace.Stats{Rows: 1, Records: 1, Kept: 1}, time.Unix(12e8, 0)},
		{"spaces around fields", " 5 , 1 , 2 \n", pts, trace.Stats{Rows: 1, Records: 1, Kept: 1}, time.Unix(5, 0)},
		{"quoted fields", `"5","1","2"` + "\n", pts, trace.Stats{Rows: 1, Records: 1, Kept: 1}, time.Unix(5, 0)},
		{"unclosed quote", `"5,1,2` + "\n", pts, trace.Stats{Rows: 1, Malformed: 1}, time.Time{}},
		{"inf", "5,1,+Inf\n6,nan,1\n", pts, trace.Stats{Rows: 2, Records: 2, NonFinite: 2}, time.Time{}},
		{"lat out of range", "5,-90.5,2\n", pts, trace.Stats{Rows: 1, Records: 1, OutOfRange: 1}, time.Time{}},
		{"lon out of range", "5,1,180.1\n", pts, trace.Stats{Rows: 1, Records: 1, OutOfRange: 1}, time.Time{}},
		{"too few fields", "5,1\n", pts, trace.Stats{Rows: 1, Malformed: 1}, time.Time{}},
		{"bad number", "5,1,2x\n", pts, trace.Stats{Rows: 1, Malformed: 1}, time.Time{}},
		{"time overflow", "99999999999999999999,1,2\n", pts, trace.Stats{Rows: 1, Malformed: 1}, time.Time{}},
		{"over-long line", "5,1," + strings.Repeat("2", 100) + "\n6,1,2\n", trace.Format{TimeCol: "0", LatCol: "1", LonCol: "2", MaxLineBytes: 50},
			trace.Stats{Rows: 2, Records: 1, Kept: 1, Malformed: 1}, time.Unix(6, 0)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fixes, st, err := trace.ReadFixes(strings.NewReader(tc.in), "x.csv", tc.f)
			if err != nil {
				t.Fatal(err)
			}
			wantStats(t, st, tc.want)
			if !tc.first.IsZero() && !fixes[0].T.Equal(tc.first) {
				t.Fatalf("first time %v, want %v", fixes[0].T, tc.first)
			}
		})
	}
}

func TestReadFixesErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		f    trace.Format
		in   string
	}{
		{"no time column", trace.Format{LatCol: "0", LonCol: "1"}, ""},
		{"name without header", trace.Format{TimeCol: "t", LatCol: "0", LonCol: "1"}, ""},
		{"unknown column name", trace.Format{Header: true, TimeCol: "when", LatCol: "lat", LonCol: "lon"}, "t,lat,lon\n1,2,3\n"},
		{"index beyond header", trace.Format{Header: true, TimeCol: "5", LatCol: "lat", LonCol: "lon"}, "t,lat,lon\n"},
		{"bad layout", trace.Format{Layout: "grid", TimeCol: "0", LatCol: "1", LonCol: "2"}, ""},
		{"polyline without interval", trace.Format{Layout: trace.LayoutPolyline, TimeCol: "0", PolylineCol: "1"}, ""},
		{"bad delimiter", trace.Format{Delimiter: "::", TimeCol: "0", LatCol: "1", LonCol: "2"}, ""},
		{"bad file id", trace.Format{FileID: "new_.txt", TimeCol: "0", LatCol: "1", LonCol: "2"}, ""},
		{"columns too few", trace.Format{Columns: 2, TimeCol: "0", LatCol: "1", LonCol: "2"}, "1,2,3\n"},
		{"point and lat/lon", trace.Format{TimeCol: "0", LatCol: "1", LonCol: "2", PointCol: "3"}, ""},
		{"no coordinates", trace.Format{TimeCol: "0", LatCol: "1"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := trace.ReadFixes(strings.NewReader(tc.in), "x.csv", tc.f)
			if !errors.Is(err, trace.ErrFormat) {
				t.Fatalf("err = %v, want ErrFormat", err)
			}
		})
	}
	// a failing reader is an error; what was read before is returned
	r := iotest.TimeoutReader(iotest.OneByteReader(strings.NewReader("5,1,2\n6,1,2\n")))
	_, _, err := trace.ReadFixes(r, "x.csv", trace.Format{TimeCol: "0", LatCol: "1", LonCol: "2"})
	if !errors.Is(err, iotest.ErrTimeout) {
		t.Fatalf("err = %v, want the reader's error", err)
	}
}

func TestFileVehicleID(t *testing.T) {
	for _, tc := range []struct {
		pattern, name, want string
		ok                  bool
	}{
		{"new_*.txt", "/data/cabs/new_abboip.txt", "abboip", true},
		{"new_*.txt", "abboip.txt", "abboip.txt", false},
		{"", "dir/taxi_17.csv", "taxi_17", true},
		{"*.plt", "000/Trajectory/20081023025304.plt", "20081023025304", true},
	} {
		got, ok := trace.Format{FileID: tc.pattern}.FileVehicleID(tc.name)
		if got != tc.want || ok != tc.ok {
			t.Errorf("FileVehicleID(%q, %q) = %q, %v; want %q, %v", tc.pattern, tc.name, got, ok, tc.want, tc.ok)
		}
	}
}

func TestReadFiles(t *testing.T) {
	ctx := context.Background()
	// a directory: only new_*.txt files are read
	vs, st, err := trace.ReadFiles(ctx, []string{"testdata"}, cabspotting)
	if err != nil {
		t.Fatal(err)
	}
	if len(vs) != 1 || vs[0].ID != "testcab" || len(vs[0].Fixes) != 12 || st.Rows != 19 {
		t.Fatalf("vehicles %d, stats %v", len(vs), st)
	}
	// a glob and an explicit file, deduplicated
	vs2, st2, err := trace.ReadFiles(ctx, []string{"testdata/new_*.txt", "testdata/new_testcab.txt"}, cabspotting)
	if err != nil || len(vs2) != 1 || st2 != st {
		t.Fatalf("glob: %v %v %v", err, len(vs2), st2)
	}
	for _, bad := range [][]string{{"testdata/missing.txt"}, {"testdata/nomatch_*.txt"}, nil} {
		if _, _, err := trace.ReadFiles(ctx, bad, cabspotting); err == nil {
			t.Errorf("ReadFiles(%q): no error", bad)
		}
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, _, err := trace.ReadFiles(cctx, []string{"testdata"}, cabspotting); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v", err)
	}
}

// Compressed files are read as they come: new_x.txt.gz is vehicle x, in a
// directory as by name; a truncated archive is an error, not a short read.
func TestReadFilesGzip(t *testing.T) {
	ctx := context.Background()
	plain, err := os.ReadFile("testdata/new_testcab.txt")
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(plain); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "new_zipcab.txt.gz"), buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	want, wantSt, err := trace.ReadFiles(ctx, []string{"testdata/new_testcab.txt"}, cabspotting)
	if err != nil {
		t.Fatal(err)
	}
	vs, st, err := trace.ReadFiles(ctx, []string{dir}, cabspotting)
	if err != nil {
		t.Fatal(err)
	}
	if len(vs) != 1 || vs[0].ID != "zipcab" || len(vs[0].Fixes) != len(want[0].Fixes) || st != wantSt {
		t.Fatalf("gzip: %d vehicles (%v), stats %v; want zipcab with %d fixes, %v", len(vs), vs, st, len(want[0].Fixes), wantSt)
	}
	cut := filepath.Join(dir, "new_cut.txt.gz")
	if err := os.WriteFile(cut, buf.Bytes()[:buf.Len()/2], 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := trace.ReadFiles(ctx, []string{cut}, cabspotting); err == nil || !strings.Contains(err.Error(), "unexpected EOF") {
		t.Fatalf("truncated gzip: %v, want an unexpected EOF error", err)
	}
}

func TestReadTripsFile(t *testing.T) {
	f := trace.TripFormat{
		Header: true, IDCol: "trip_id", TimeCol: "pickup_datetime", LatCol: "pickup_latitude", LonCol: "pickup_longitude",
		DropTimeCol: "dropoff_datetime", DropLatCol: "dropoff_latitude", DropLonCol: "dropoff_longitude",
		TimeFormat: "2006-01-02 15:04:05", Location: mustLocation(t, "America/New_York"),
	}
	file, err := os.Open("testdata/trips.csv")
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	trips, st, err := trace.ReadTrips(file, f)
	if err != nil {
		t.Fatal(err)
	}
	wantStats(t, st, trace.Stats{Rows: 8, Records: 5, Kept: 3, Blank: 1, Malformed: 2, ZeroZero: 1, NonIncreasing: 1})
	want := trace.Trip{
		ID: "t1", PickupT: time.Date(2016, 3, 14, 21, 24, 55, 0, time.UTC), Pickup: geo.Point{Lat: 40.767937, Lon: -73.982155},
		HasDropoff: true, Dropoff: geo.Point{Lat: 40.765602, Lon: -73.964630}, DropoffT: time.Date(2016, 3, 14, 21, 32, 30, 0, time.UTC),
	}
	got := trips[0]
	if got.ID != want.ID || !got.PickupT.Equal(want.PickupT) || got.Pickup != want.Pickup || !got.HasDropoff ||
		got.Dropoff != want.Dropoff || !got.DropoffT.Equal(want.DropoffT) {
		t.Fatalf("trip %+v\nwant %+v", got, want)
	}
	if t4 := trips[2]; t4.ID != "t4" || t4.HasDropoff || !t4.DropoffT.IsZero() || !t4.PickupT.Equal(time.Date(2016, 1, 19, 16, 35, 24, 0, time.UTC)) {
		t.Fatalf("t4 %+v", t4)
	}
}

func TestReadTripsPolyline(t *testing.T) {
	f := trace.TripFormat{
		Layout: trace.LayoutPolyline, Header: true, IDCol: "TRIP_ID", VehicleCol: "TAXI_ID", TimeCol: "TIMESTAMP",
		PolylineCol: "POLYLINE", LonLat: true, Interval: 15 * time.Second,
	}
	file, err := os.Open("testdata/porto.csv")
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	trips, st, err := trace.ReadTrips(file, f)
	if err != nil {
		t.Fatal(err)
	}
	wantStats(t, st, trace.Stats{Rows: 5, Records: 3, Kept: 3, Malformed: 1, Empty: 1})
	want := trace.Trip{
		ID: "1372636858620000589", Vehicle: "20000589", PickupT: time.Unix(1372636858, 0), Pickup: geo.Point{Lat: 41.141412, Lon: -8.618643},
		HasDropoff: true, Dropoff: geo.Point{Lat: 41.143815, Lon: -8.622153}, DropoffT: time.Unix(1372636858+45, 0),
	}
	if trips[0] != want {
		t.Fatalf("trip %+v\nwant %+v", trips[0], want)
	}
}

func TestReadTripsErrors(t *testing.T) {
	for _, f := range []trace.TripFormat{
		{LatCol: "1", LonCol: "2"},
		{TimeCol: "0", LatCol: "1"},
		{TimeCol: "0", LatCol: "1", LonCol: "2", DropLatCol: "3"},
		{Layout: trace.LayoutPolyline, TimeCol: "0"},
	} {
		if _, _, err := trace.ReadTrips(strings.NewReader("1,2,3,4\n"), f); !errors.Is(err, trace.ErrFormat) {
			t.Errorf("%+v: err = %v", f, err)
		}
	}
}

// Explain names the flag to fix when a file yields no fix.
func TestExplain(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "x.csv")
	if err := os.WriteFile(file, []byte("v1,2008-05-17T10:00:00Z,37.77,-122.41,1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	base := trace.Format{Delimiter: ",", IDCol: "0", TimeCol: "1", LatCol: "2", LonCol: "3", OccCol: "4", TimeFormat: trace.TimeRFC3339}
	for _, tc := range []struct {
		change func(*trace.Format)
		want   string
	}{
		{func(f *trace.Format) { f.TimeFormat = trace.TimeUnix }, `time "2008-05-17T10:00:00Z" (column 1) does not parse as unix (check -time-format`},
		{func(f *trace.Format) { f.Delimiter = ";" }, "1 fields, but the columns given need 5 (check -delim"},
		{func(f *trace.Format) { f.LatCol = "1" }, "latitude \"2008-05-17T10:00:00Z\" (column 1) is not a number"},
		{func(f *trace.Format) { f.OccCol = "3" }, `occupancy "-122.41" (column 3) is not 0/1`},
		{func(f *trace.Format) { f.LatCol, f.LonCol = "3", "2" }, "latitude -122.41 (column 3) is out of range while longitude 37.77 (column 2) would be a latitude: are lat and lon swapped?"},
		{func(f *trace.Format) {}, ""},
	} {
		f := base
		tc.change(&f)
		got := trace.Explain([]string{file}, f)
		if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) || (got != "" && !strings.Contains(got, "line 1")) {
			t.Errorf("Explain = %q, want it to contain %q", got, tc.want)
		}
	}
}

// Rows ending in delimiters the header does not have ("...,,") are read:
// the extra fields are empty. An extra field with a value still makes the
// row malformed.
func TestReadTrailingDelimiters(t *testing.T) {
	in := "id,t,lat,lon\nv1,1000,37.77,-122.41,,\nv1,1010,37.78,-122.41,\nv1,1020,37.79,-122.41,x\n"
	f := trace.Format{Delimiter: ",", Header: true, IDCol: "id", TimeCol: "t", LatCol: "lat", LonCol: "lon"}
	fixes, st, err := trace.ReadFixes(strings.NewReader(in), "x.csv", f)
	if err != nil || len(fixes) != 2 || st.Malformed != 1 {
		t.Fatalf("fixes %d, stats %v, err %v; want 2 fixes, 1 malformed", len(fixes), st, err)
	}
	trips := "pickup_time,pickup_lat,pickup_lon\n1000,37.77,-122.41,,\n"
	tf := trace.TripFormat{Delimiter: ",", Header: true, TimeCol: "pickup_time", LatCol: "pickup_lat", LonCol: "pickup_lon"}
	got, tst, err := trace.ReadTrips(strings.NewReader(trips), tf)
	if err != nil || len(got) != 1 {
		t.Fatalf("trips %d, stats %v, err %v; want 1", len(got), tst, err)
	}
}
