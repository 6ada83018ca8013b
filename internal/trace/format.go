package trace

import (
	"errors"
	"fmt"
	"path"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Layouts of a fix file.
const (
	LayoutPoints   = "points"   // one fix per row
	LayoutPolyline = "polyline" // one row per trip: a start time and a list of points at a fixed interval
)

// Time formats understood besides a Go time layout.
const (
	TimeUnix    = "unix"    // seconds since the epoch, optionally fractional
	TimeUnixMs  = "unixms"  // milliseconds since the epoch, optionally fractional
	TimeRFC3339 = "rfc3339" // RFC 3339, fractional seconds optional
)

// DefaultMaxLineBytes is the default limit on one line of input.
const DefaultMaxLineBytes = 16 << 20

// ErrFormat is wrapped by every configuration error of a Format or a
// TripFormat.
var ErrFormat = errors.New("invalid format")

// Format describes a fix file. Column fields hold a 0-based column index
// ("3") or, when Header is set, a column name from the header
// (case-insensitive); "" means the column is absent.
type Format struct {
	// Layout is LayoutPoints (the default when "") or LayoutPolyline.
	Layout string
	// Delimiter separates fields: ",", ";", "\t", "|" or any single
	// character, the names "comma", "semicolon", "tab", "pipe", or "space"
	// for runs of spaces and tabs (quotes are not special then). "" means ",".
	Delimiter string
	// Header says the first non-blank line names the columns.
	Header bool
	// Columns, when > 0, is the exact number of fields a row must have.
	// Otherwise a row needs at least the fields the columns refer to and,
	// with Header, at most as many fields as the header.
	Columns int

	IDCol   string // vehicle id; "" derives it from the file name (see FileID)
	TimeCol string // fix time, or the start time of a polyline; required
	LatCol  string // latitude (points layout)
	LonCol  string // longitude (points layout)
	// PointCol holds both coordinates of the points layout in one field,
	// instead of LatCol and LonCol: "POINT(a b)" (WKT, as in the Rome taxi
	// traces), "a b", "a,b", "(a, b)" or "[a, b]"; lat first unless LonLat.
	PointCol   string
	OccCol     string // occupancy: 0/1, false/true, no/yes; optional
	SpeedCol   string // optional, stored raw in Fix.Speed
	HeadingCol string // optional, stored raw in Fix.Heading

	// PolylineCol holds the points of a polyline row as a JSON-style list
	// "[[a,b],[c,d],...]" (polyline layout).
	PolylineCol string
	// LonLat says polyline and PointCol points are [lon, lat] (the Porto
	// taxi dataset and WKT order) rather than [lat, lon].
	LonLat bool
	// Interval is the time between consecutive polyline points; required
	// for the polyline layout.
	Interval time.Duration

	// FileID turns a file name into a vehicle id when IDCol is "": a
	// pattern with one '*' standing for the id, e.g. "new_*.txt" turns
	// new_abboip.txt into abboip. ReadFiles also uses it to select the
	// files of a directory. "" means the base name without its extension.
	FileID string

	// TimeFormat is TimeUnix (the default when ""), TimeUnixMs, TimeRFC3339
	// or a Go time layout such as "2006-01-02 15:04:05".
	TimeFormat string
	// Location is the zone of times that carry none (Go layouts without a
	// zone); nil means UTC.
	Location *time.Location

	// MaxLineBytes bounds one line; longer lines are counted Malformed.
	// 0 means DefaultMaxLineBytes.
	MaxLineBytes int
}

// Validate reports a configuration error. The error wraps ErrFormat.
func (f Format) Validate() error {
	if _, err := delimiter(f.Delimiter); err != nil {
		return err
	}
	if f.Columns < 0 || f.MaxLineBytes < 0 {
		return fmt.Errorf("%w: Columns and MaxLineBytes must not be negative", ErrFormat)
	}
	if f.TimeCol == "" {
		return fmt.Errorf("%w: a time column is required", ErrFormat)
	}
	switch f.Layout {
	case "", LayoutPoints:
		if f.PointCol != "" {
			if f.LatCol != "" || f.LonCol != "" {
				return fmt.Errorf("%w: give a point column or lat and lon columns, not both", ErrFormat)
			}
		} else if f.LatCol == "" || f.LonCol == "" {
			return fmt.Errorf("%w: the points layout needs lat and lon columns, or a point column", ErrFormat)
		}
	case LayoutPolyline:
		if f.PolylineCol == "" {
			return fmt.Errorf("%w: the polyline layout needs a polyline column", ErrFormat)
		}
		if f.Interval <= 0 {
			return fmt.Errorf("%w: the polyline layout needs a positive interval", ErrFormat)
		}
	default:
		return fmt.Errorf("%w: unknown layout %q (want %q or %q)", ErrFormat, f.Layout, LayoutPoints, LayoutPolyline)
	}
	if f.IDCol == "" && f.FileID != "" && strings.Count(f.FileID, "*") != 1 {
		return fmt.Errorf("%w: file id pattern %q must contain exactly one '*'", ErrFormat, f.FileID)
	}
	for _, c := range []string{f.IDCol, f.TimeCol, f.LatCol, f.LonCol, f.PointCol, f.OccCol, f.SpeedCol, f.HeadingCol, f.PolylineCol} {
		if err := checkColumnSpec(c, f.Header); err != nil {
			return err
		}
	}
	return validateTimeFormat(f.TimeFormat)
}

// FileVehicleID returns the vehicle id that Format f derives from a file
// name (see Format.FileID), and whether the name matches the pattern.
func (f Format) FileVehicleID(name string) (string, bool) {
	base := path.Base(strings.ReplaceAll(name, "\\", "/"))
	if f.FileID == "" {
		return strings.TrimSuffix(base, path.Ext(base)), true
	}
	pre, suf, _ := strings.Cut(f.FileID, "*")
	if len(base) < len(pre)+len(suf)+1 || !strings.HasPrefix(base, pre) || !strings.HasSuffix(base, suf) {
		return base, false
	}
	return base[len(pre) : len(base)-len(suf)], true
}

// delim is a parsed delimiter: a rune, or space mode.
type delim struct {
	r     rune
	space bool
}

func delimiter(s string) (delim, error) {
	switch strings.ToLower(s) {
	case "", ",", "comma":
		return delim{r: ','}, nil
	case ";", "semicolon":
		return delim{r: ';'}, nil
	case "\t", "tab", `\t`:
		return delim{r: '\t'}, nil
	case "|", "pipe":
		return delim{r: '|'}, nil
	case "space", " ", "whitespace":
		return delim{space: true}, nil
	}
	r, n := utf8.DecodeRuneInString(s)
	if n != len(s) || r == utf8.RuneError || r == '"' || r == '\n' || r == '\r' {
		return delim{}, fmt.Errorf("%w: unusable delimiter %q", ErrFormat, s)
	}
	return delim{r: r}, nil
}

func checkColumnSpec(c string, header bool) error {
	if c == "" {
		return nil
	}
	if n, err := strconv.Atoi(c); err == nil {
		if n < 0 {
			return fmt.Errorf("%w: negative column index %d", ErrFormat, n)
		}
		return nil
	}
	if !header {
		return fmt.Errorf("%w: column %q is a name but the file has no header", ErrFormat, c)
	}
	return nil
}

// resolveColumn maps a column spec to an index; -1 when the spec is "".
func resolveColumn(c string, header []string) (int, error) {
	if c == "" {
		return -1, nil
	}
	if n, err := strconv.Atoi(c); err == nil && n >= 0 {
		if header != nil && n >= len(header) {
			return 0, fmt.Errorf("%w: column %d is beyond the %d header columns", ErrFormat, n, len(header))
		}
		return n, nil
	}
	for i, h := range header {
		if strings.EqualFold(strings.TrimSpace(h), strings.TrimSpace(c)) {
			return i, nil
		}
	}
	return 0, fmt.Errorf("%w: no column named %q in the header %q", ErrFormat, c, header)
}

func validateTimeFormat(tf string) error {
	switch strings.ToLower(tf) {
	case "", TimeUnix, TimeUnixMs, TimeRFC3339:
		return nil
	}
	if !strings.ContainsAny(tf, "0123456789") {
		return fmt.Errorf("%w: time format %q is neither unix, unixms, rfc3339 nor a Go layout", ErrFormat, tf)
	}
	return nil
}
