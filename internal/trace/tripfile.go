package trace

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/ridehail/dispatch/geo"
)

// TripFormat describes a trip file. Column fields hold a 0-based index or,
// with Header, a header name; "" means absent. The fields shared with Format
// mean the same.
type TripFormat struct {
	// Layout is LayoutPoints (the default when ""): one trip per row with a
	// pickup point and an optional drop-off point; or LayoutPolyline: one
	// trip per row whose polyline's first point is the pickup and last point
	// the drop-off.
	Layout    string
	Delimiter string
	Header    bool
	Columns   int

	IDCol      string // optional trip id
	VehicleCol string // optional vehicle id
	TimeCol    string // pickup time (polyline: the start time); required

	LatCol, LonCol string // pickup point (points layout); required

	DropTimeCol            string // optional drop-off time
	DropLatCol, DropLonCol string // optional drop-off point; both or neither

	PolylineCol string        // polyline layout: "[[a,b],...]"
	LonLat      bool          // polyline points are [lon, lat]
	Interval    time.Duration // polyline point interval, gives the drop-off time

	TimeFormat   string
	Location     *time.Location
	MaxLineBytes int
}

// Validate reports a configuration error. The error wraps ErrFormat.
func (f TripFormat) Validate() error {
	if _, err := delimiter(f.Delimiter); err != nil {
		return err
	}
	if f.Columns < 0 || f.MaxLineBytes < 0 {
		return fmt.Errorf("%w: Columns and MaxLineBytes must not be negative", ErrFormat)
	}
	if f.TimeCol == "" {
		return fmt.Errorf("%w: a pickup time column is required", ErrFormat)
	}
	switch f.Layout {
	case "", LayoutPoints:
		if f.LatCol == "" || f.LonCol == "" {
			return fmt.Errorf("%w: pickup lat and lon columns are required", ErrFormat)
		}
		if (f.DropLatCol == "") != (f.DropLonCol == "") {
			return fmt.Errorf("%w: give both drop-off lat and lon columns or neither", ErrFormat)
		}
	case LayoutPolyline:
		if f.PolylineCol == "" {
			return fmt.Errorf("%w: the polyline layout needs a polyline column", ErrFormat)
		}
		if f.Interval < 0 {
			return fmt.Errorf("%w: negative polyline interval", ErrFormat)
		}
	default:
		return fmt.Errorf("%w: unknown layout %q (want %q or %q)", ErrFormat, f.Layout, LayoutPoints, LayoutPolyline)
	}
	for _, c := range []string{f.IDCol, f.VehicleCol, f.TimeCol, f.LatCol, f.LonCol, f.DropTimeCol, f.DropLatCol, f.DropLonCol, f.PolylineCol} {
		if err := checkColumnSpec(c, f.Header); err != nil {
			return err
		}
	}
	return validateTimeFormat(f.TimeFormat)
}

type tripColumns struct {
	id, vehicle, time, lat, lon, dropT, dropLat, dropLon, poly int
	fit                                                        fixColumns // only need/max/exact are used
}

func resolveTripColumns(f TripFormat, header []string) (tripColumns, error) {
	var c tripColumns
	specs := []struct {
		spec string
		dst  *int
	}{
		{f.IDCol, &c.id}, {f.VehicleCol, &c.vehicle}, {f.TimeCol, &c.time}, {f.LatCol, &c.lat},
		{f.LonCol, &c.lon}, {f.DropTimeCol, &c.dropT}, {f.DropLatCol, &c.dropLat},
		{f.DropLonCol, &c.dropLon}, {f.PolylineCol, &c.poly},
	}
	for _, s := range specs {
		i, err := resolveColumn(s.spec, header)
		if err != nil {
			return c, err
		}
		*s.dst = i
		c.fit.need = max(c.fit.need, i+1)
	}
	c.fit.exact = f.Columns
	if c.fit.exact > 0 && c.fit.exact < c.fit.need {
		return c, fmt.Errorf("%w: %d columns per row cannot hold column %d", ErrFormat, c.fit.exact, c.fit.need-1)
	}
	if header != nil {
		c.fit.max = len(header)
	}
	return c, nil
}

// ReadTrips reads a trip file in format f, in file order. Unusable rows are
// counted and skipped like those of ReadFixes; a trip whose drop-off time is
// before its pickup counts as NonIncreasing. The error is non-nil only for an
// invalid format (wrapping ErrFormat) or when r fails, in which case the
// trips read so far are returned too.
func ReadTrips(r io.Reader, f TripFormat) ([]Trip, Stats, error) {
	var st Stats
	if err := f.Validate(); err != nil {
		return nil, st, err
	}
	d, _ := delimiter(f.Delimiter)
	t := newTable(r, d, f.MaxLineBytes, &st)
	var header []string
	if f.Header {
		h, err := t.header()
		if err != nil {
			return nil, st, fmt.Errorf("read trips: %w", err)
		}
		if h == nil {
			return nil, st, nil
		}
		header = h
	}
	cols, err := resolveTripColumns(f, header)
	if err != nil {
		return nil, st, err
	}
	tr := tripReader{f: f, cols: cols, tp: newTimeParser(f.TimeFormat, f.Location), st: &st, ids: make(map[string]string)}
	var trips []Trip
	for {
		fs, err := t.next()
		if errors.Is(err, io.EOF) {
			return trips, st, nil
		}
		if err != nil {
			return trips, st, fmt.Errorf("read trips after line %d: %w", t.line, err)
		}
		trip, ok := tr.row(fs)
		if ok {
			st.Kept++
			trips = append(trips, trip)
		}
	}
}

type tripReader struct {
	f     TripFormat
	cols  tripColumns
	tp    timeParser
	st    *Stats
	ids   map[string]string
	pairs [][2]float64
}

// row parses one trip row, counting the reason when it is dropped.
func (tr *tripReader) row(fs []string) (Trip, bool) {
	c := tr.cols
	var trip Trip
	if !c.fit.fits(fs) {
		tr.st.Malformed++
		return trip, false
	}
	if c.id >= 0 {
		trip.ID = strings.Clone(fs[c.id])
	}
	if c.vehicle >= 0 {
		trip.Vehicle = tr.intern(fs[c.vehicle])
	}
	pt, err := tr.tp.parse(fs[c.time])
	if err != nil {
		tr.st.Malformed++
		return trip, false
	}
	trip.PickupT = pt
	if tr.f.Layout == LayoutPolyline {
		return tr.polyline(fs[c.poly], trip)
	}
	if !tr.points(fs, &trip) {
		tr.st.Malformed++
		return trip, false
	}
	return tr.check(trip)
}

// points parses the pickup and drop-off columns; false means malformed.
func (tr *tripReader) points(fs []string, trip *Trip) bool {
	c := tr.cols
	p, ok := parsePoint(fs[c.lat], fs[c.lon])
	if !ok {
		return false
	}
	trip.Pickup = p
	if c.dropLat >= 0 {
		la, lo := fs[c.dropLat], fs[c.dropLon]
		switch {
		case la == "" && lo == "":
		case la == "" || lo == "":
			return false
		default:
			if trip.Dropoff, ok = parsePoint(la, lo); !ok {
				return false
			}
			trip.HasDropoff = true
		}
	}
	if c.dropT >= 0 && fs[c.dropT] != "" {
		dt, err := tr.tp.parse(fs[c.dropT])
		if err != nil {
			return false
		}
		trip.DropoffT = dt
	}
	return true
}

func (tr *tripReader) polyline(s string, trip Trip) (Trip, bool) {
	pairs, err := parsePolyline(s, tr.pairs[:0])
	tr.pairs = pairs
	if err != nil {
		tr.st.Malformed++
		return trip, false
	}
	if len(pairs) == 0 {
		tr.st.Empty++
		return trip, false
	}
	pt := func(pr [2]float64) geo.Point {
		if tr.f.LonLat {
			return geo.Point{Lat: pr[1], Lon: pr[0]}
		}
		return geo.Point{Lat: pr[0], Lon: pr[1]}
	}
	trip.Pickup = pt(pairs[0])
	if len(pairs) > 1 {
		trip.HasDropoff = true
		trip.Dropoff = pt(pairs[len(pairs)-1])
		if tr.f.Interval > 0 {
			trip.DropoffT = trip.PickupT.Add(time.Duration(len(pairs)-1) * tr.f.Interval)
		}
	}
	return tr.check(trip)
}

// check counts the trip as a record and validates its points and times.
func (tr *tripReader) check(trip Trip) (Trip, bool) {
	tr.st.Records++
	if !checkPoint(trip.Pickup, tr.st) {
		return trip, false
	}
	if trip.HasDropoff && !checkPoint(trip.Dropoff, tr.st) {
		return trip, false
	}
	if !trip.DropoffT.IsZero() && trip.DropoffT.Before(trip.PickupT) {
		tr.st.NonIncreasing++
		return trip, false
	}
	return trip, true
}

func (tr *tripReader) intern(s string) string {
	if v, ok := tr.ids[s]; ok {
		return v
	}
	v := strings.Clone(s)
	tr.ids[v] = v
	return v
}

func parsePoint(lat, lon string) (geo.Point, bool) {
	la, err1 := strconv.ParseFloat(lat, 64)
	lo, err2 := strconv.ParseFloat(lon, 64)
	if err1 != nil || err2 != nil {
		return geo.Point{}, false
	}
	return geo.Point{Lat: la, Lon: lo}, true
}
