package trace

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Explain says why the first rows of the files at paths yield no fix in
// Format f, in the terms of the CLI flags ("time \"2008-05-17 10:00\"
// (column 3) does not parse as unix: check -time-format"), for a run that
// found nothing usable. It returns "" when it finds nothing to say.
func Explain(paths []string, f Format) string {
	if err := f.Validate(); err != nil {
		return err.Error()
	}
	files, err := expandPaths(paths, f)
	if err != nil || len(files) == 0 {
		return ""
	}
	r, plain, err := Open(files[0])
	if err != nil {
		return err.Error()
	}
	defer r.Close()
	var st Stats
	d, _ := delimiter(f.Delimiter)
	t := newTable(r, d, f.MaxLineBytes, &st)
	var header []string
	if f.Header {
		if header, err = t.header(); err != nil || header == nil {
			return ""
		}
	}
	cols, err := resolveFixColumns(f, header)
	if err != nil {
		return err.Error()
	}
	tp := newTimeParser(f.TimeFormat, f.Location)
	for range 5 {
		fs, err := t.next()
		if errors.Is(err, io.EOF) || err != nil {
			return ""
		}
		if why := explainRow(f, cols, tp, fs); why != "" {
			return fmt.Sprintf("%s line %d: %s", plain, t.line, why)
		}
	}
	return ""
}

// explainRow returns why row fs gives no fix, or "".
func explainRow(f Format, c fixColumns, tp timeParser, fs []string) string {
	if !c.fits(fs) {
		switch {
		case c.exact > 0:
			return fmt.Sprintf("%d fields, but -columns says %d", len(fs), c.exact)
		case len(fs) >= c.need && c.max > 0:
			return fmt.Sprintf("%d fields with values, more than the header's %d (check -delim, and quoting of fields holding it)", len(fs), c.max)
		}
		return fmt.Sprintf("%d fields, but the columns given need %d (check -delim, -columns and the column flags)", len(fs), c.need)
	}
	if c.id >= 0 && fs[c.id] == "" {
		return "the vehicle id column is empty (check -id-col)"
	}
	if _, err := tp.parse(fs[c.time]); err != nil {
		return fmt.Sprintf("time %q (column %d) does not parse as %s (check -time-format and -time-col)", fs[c.time], c.time, tp.format)
	}
	if c.occ >= 0 {
		if _, ok := parseOccupancy(fs[c.occ]); !ok {
			return fmt.Sprintf("occupancy %q (column %d) is not 0/1 (check -occ-col; '' for none)", fs[c.occ], c.occ)
		}
	}
	if f.Layout == LayoutPolyline {
		if _, err := parsePolyline(fs[c.poly], nil); err != nil {
			return fmt.Sprintf("polyline (column %d) is not a [[a,b],...] list (check -polyline-col)", c.poly)
		}
		return ""
	}
	if c.point >= 0 {
		if _, _, ok := parsePointField(fs[c.point]); !ok {
			return fmt.Sprintf("point %q (column %d) is not two coordinates (check -point-col)", fs[c.point], c.point)
		}
		return ""
	}
	var v [2]float64
	for k, col := range []struct {
		name string
		i    int
	}{{"latitude", c.lat}, {"longitude", c.lon}} {
		x, err := strconv.ParseFloat(fs[col.i], 64)
		if err != nil {
			return fmt.Sprintf("%s %q (column %d) is not a number (check -lat-col and -lon-col)", col.name, strings.TrimSpace(fs[col.i]), col.i)
		}
		v[k] = x
	}
	lat, lon := v[0], v[1]
	if (lat < -90 || lat > 90) && lon >= -90 && lon <= 90 && lat >= -180 && lat <= 180 {
		return fmt.Sprintf("latitude %v (column %d) is out of range while longitude %v (column %d) would be a latitude: are lat and lon swapped? (check -lat-col and -lon-col)", lat, c.lat, lon, c.lon)
	}
	return ""
}
