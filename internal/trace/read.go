package trace

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ridehail/dispatch/geo"
)

// fixColumns holds the resolved column indexes of a Format (-1 = absent).
type fixColumns struct {
	id, time, lat, lon, point, occ, speed, heading, poly int
	need                                                 int // fields a row must have at least
	max                                                  int // fields a row may have at most; 0 = any
	exact                                                int // fields a row must have exactly; 0 = not fixed
}

func resolveFixColumns(f Format, header []string) (fixColumns, error) {
	var c fixColumns
	specs := []struct {
		spec string
		dst  *int
	}{
		{f.IDCol, &c.id}, {f.TimeCol, &c.time}, {f.LatCol, &c.lat}, {f.LonCol, &c.lon},
		{f.PointCol, &c.point}, {f.OccCol, &c.occ}, {f.SpeedCol, &c.speed}, {f.HeadingCol, &c.heading}, {f.PolylineCol, &c.poly},
	}
	for _, s := range specs {
		i, err := resolveColumn(s.spec, header)
		if err != nil {
			return c, err
		}
		*s.dst = i
		c.need = max(c.need, i+1)
	}
	if f.Layout == LayoutPolyline {
		c.lat, c.lon, c.point = -1, -1, -1
	}
	c.exact = f.Columns
	if c.exact > 0 && c.exact < c.need {
		return c, fmt.Errorf("%w: %d columns per row cannot hold column %d", ErrFormat, c.exact, c.need-1)
	}
	if header != nil {
		c.max = len(header)
	}
	return c, nil
}

// fits reports whether a row of fields fs has a usable number of fields.
// Beyond the header's count, only empty fields are allowed: rows that end
// in a delimiter the header does not ("a,b,c,,"), as some published trip
// files do.
func (c fixColumns) fits(fs []string) bool {
	n := len(fs)
	if c.exact > 0 {
		return n == c.exact
	}
	if n < c.need {
		return false
	}
	if c.max > 0 {
		for _, extra := range fs[min(c.max, n):] {
			if strings.TrimSpace(extra) != "" {
				return false
			}
		}
	}
	return true
}

// ReadFixes reads the fixes of one stream in Format f. name is the file
// name: it gives the vehicle id when f.IDCol is "" and prefixes error
// messages. Unusable rows are counted in Stats and skipped (see the package
// doc); the error is non-nil only for an invalid Format (wrapping ErrFormat)
// or when r fails, in which case the fixes read so far are returned too.
// The fixes are in input order, not cleaned.
func ReadFixes(r io.Reader, name string, f Format) ([]Fix, Stats, error) {
	var st Stats
	if err := f.Validate(); err != nil {
		return nil, st, fmt.Errorf("%s: %w", name, err)
	}
	d, _ := delimiter(f.Delimiter)
	t := newTable(r, d, f.MaxLineBytes, &st)
	var header []string
	if f.Header {
		h, err := t.header()
		if err != nil {
			return nil, st, fmt.Errorf("read %s: %w", name, err)
		}
		if h == nil {
			return nil, st, nil
		}
		header = h
	}
	cols, err := resolveFixColumns(f, header)
	if err != nil {
		return nil, st, fmt.Errorf("%s: %w", name, err)
	}
	rr := rowReader{
		cols:  cols,
		tp:    newTimeParser(f.TimeFormat, f.Location),
		ids:   make(map[string]string),
		st:    &st,
		f:     f,
		polyl: f.Layout == LayoutPolyline,
	}
	if cols.id < 0 {
		rr.fileID, _ = f.FileVehicleID(name)
	}
	var fixes []Fix
	for {
		fs, err := t.next()
		if errors.Is(err, io.EOF) {
			return fixes, st, nil
		}
		if err != nil {
			return fixes, st, fmt.Errorf("read %s after line %d: %w", name, t.line, err)
		}
		fixes = rr.row(fs, fixes)
	}
}

// rowReader turns split rows into fixes.
type rowReader struct {
	cols   fixColumns
	tp     timeParser
	ids    map[string]string // interned vehicle ids
	fileID string
	st     *Stats
	f      Format
	polyl  bool
	pairs  [][2]float64
}

// row appends the fixes of one row to fixes, counting drops.
func (rr *rowReader) row(fs []string, fixes []Fix) []Fix {
	if !rr.cols.fits(fs) {
		rr.st.Malformed++
		return fixes
	}
	base, ok := rr.common(fs)
	if !ok {
		rr.st.Malformed++
		return fixes
	}
	if rr.polyl {
		return rr.polyline(fs[rr.cols.poly], base, fixes)
	}
	var lat, lon float64
	if rr.cols.point >= 0 {
		a, b, ok := parsePointField(fs[rr.cols.point])
		if !ok {
			rr.st.Malformed++
			return fixes
		}
		lat, lon = a, b
		if rr.f.LonLat {
			lat, lon = b, a
		}
	} else {
		var err1, err2 error
		lat, err1 = strconv.ParseFloat(fs[rr.cols.lat], 64)
		lon, err2 = strconv.ParseFloat(fs[rr.cols.lon], 64)
		if err1 != nil || err2 != nil {
			rr.st.Malformed++
			return fixes
		}
	}
	speed, ok1 := optionalFloat(fs, rr.cols.speed)
	heading, ok2 := optionalFloat(fs, rr.cols.heading)
	if !ok1 || !ok2 {
		rr.st.Malformed++
		return fixes
	}
	rr.st.Records++
	base.P = geo.Point{Lat: lat, Lon: lon}
	if !checkPoint(base.P, rr.st) {
		return fixes
	}
	base.Speed, base.Heading = speed, heading
	rr.st.Kept++
	return append(fixes, base)
}

// common parses the fields shared by both layouts: vehicle, time, occupancy.
func (rr *rowReader) common(fs []string) (Fix, bool) {
	fx := Fix{Vehicle: rr.fileID, Occupied: OccUnknown, Speed: math.NaN(), Heading: math.NaN()}
	if rr.cols.id >= 0 {
		id := fs[rr.cols.id]
		if id == "" {
			return fx, false
		}
		interned, ok := rr.ids[id]
		if !ok {
			interned = strings.Clone(id)
			rr.ids[interned] = interned
		}
		fx.Vehicle = interned
	}
	t, err := rr.tp.parse(fs[rr.cols.time])
	if err != nil {
		return fx, false
	}
	fx.T = t
	if rr.cols.occ >= 0 {
		o, ok := parseOccupancy(fs[rr.cols.occ])
		if !ok {
			return fx, false
		}
		fx.Occupied = o
	}
	return fx, true
}

func (rr *rowReader) polyline(s string, base Fix, fixes []Fix) []Fix {
	pairs, err := parsePolyline(s, rr.pairs[:0])
	rr.pairs = pairs
	if err != nil {
		rr.st.Malformed++
		return fixes
	}
	if len(pairs) == 0 {
		rr.st.Empty++
		return fixes
	}
	for i, pr := range pairs {
		rr.st.Records++
		fx := base
		fx.P = geo.Point{Lat: pr[0], Lon: pr[1]}
		if rr.f.LonLat {
			fx.P = geo.Point{Lat: pr[1], Lon: pr[0]}
		}
		if !checkPoint(fx.P, rr.st) {
			continue
		}
		fx.T = base.T.Add(time.Duration(i) * rr.f.Interval)
		rr.st.Kept++
		fixes = append(fixes, fx)
	}
	return fixes
}

// checkPoint reports whether p is usable, counting the reason when not.
func checkPoint(p geo.Point, st *Stats) bool {
	switch {
	case math.IsNaN(p.Lat) || math.IsInf(p.Lat, 0) || math.IsNaN(p.Lon) || math.IsInf(p.Lon, 0):
		st.NonFinite++
	case p.Validate() != nil:
		st.OutOfRange++
	case p.Lat == 0 && p.Lon == 0:
		st.ZeroZero++
	default:
		return true
	}
	return false
}

// optionalFloat parses column i; absent or empty is NaN, non-finite is NaN.
func optionalFloat(fs []string, i int) (float64, bool) {
	if i < 0 || fs[i] == "" {
		return math.NaN(), true
	}
	v, err := strconv.ParseFloat(fs[i], 64)
	if err != nil {
		return 0, false
	}
	if math.IsInf(v, 0) {
		v = math.NaN()
	}
	return v, true
}

func parseOccupancy(s string) (int8, bool) {
	switch strings.ToLower(s) {
	case "0", "false", "f", "no", "n", "free":
		return OccFree, true
	case "1", "true", "t", "yes", "y", "occupied":
		return OccOccupied, true
	case "", "-1", "unknown":
		return OccUnknown, true
	}
	return 0, false
}

// ReadFiles reads the fix files named by paths in Format f and groups the
// fixes by vehicle (sorted by id; each vehicle's fixes in file order, not
// cleaned). A path is a file, a directory (its regular, non-hidden files,
// those matching f.FileID when it is set) or a glob pattern. Stats are
// summed over the files. The error is non-nil for an invalid Format, a path
// that matches no file, a file that cannot be read, or a cancelled ctx.
func ReadFiles(ctx context.Context, paths []string, f Format) ([]Vehicle, Stats, error) {
	var total Stats
	if err := f.Validate(); err != nil {
		return nil, total, err
	}
	files, err := expandPaths(paths, f)
	if err != nil {
		return nil, total, err
	}
	byID := make(map[string][]Fix)
	for _, name := range files {
		if err := ctx.Err(); err != nil {
			return nil, total, err
		}
		fixes, st, err := readFile(name, f)
		total = total.Add(st)
		if err != nil {
			return nil, total, err
		}
		for _, fx := range fixes {
			byID[fx.Vehicle] = append(byID[fx.Vehicle], fx)
		}
	}
	vs := make([]Vehicle, 0, len(byID))
	for id, fixes := range byID {
		vs = append(vs, Vehicle{ID: id, Fixes: fixes})
	}
	slices.SortFunc(vs, func(a, b Vehicle) int { return strings.Compare(a.ID, b.ID) })
	return vs, total, nil
}

func readFile(name string, f Format) ([]Fix, Stats, error) {
	file, plain, err := Open(name)
	if err != nil {
		return nil, Stats{}, fmt.Errorf("open trace: %w", err)
	}
	defer file.Close()
	return ReadFixes(file, plain, f)
}

// expandPaths turns files, directories and glob patterns into a list of
// files, without duplicates, in the given order (directory entries and glob
// matches sorted by name).
func expandPaths(paths []string, f Format) ([]string, error) {
	var out []string
	seen := make(map[string]bool)
	add := func(p string) {
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	var expand func(p string, explicit bool) error
	expand = func(p string, explicit bool) error {
		fi, err := os.Stat(p)
		if err != nil {
			return fmt.Errorf("trace path: %w", err)
		}
		if !fi.IsDir() {
			if explicit || fi.Mode().IsRegular() {
				add(p)
			}
			return nil
		}
		entries, err := os.ReadDir(p)
		if err != nil {
			return fmt.Errorf("trace directory: %w", err)
		}
		n := 0
		for _, e := range entries {
			if e.IsDir() || !e.Type().IsRegular() || strings.HasPrefix(e.Name(), ".") {
				continue
			}
			if f.FileID != "" {
				if _, ok := f.FileVehicleID(PlainName(e.Name())); !ok {
					continue
				}
			}
			add(filepath.Join(p, e.Name()))
			n++
		}
		if n == 0 {
			return fmt.Errorf("trace directory %s: no files match %q", p, f.FileID)
		}
		return nil
	}
	for _, p := range paths {
		if !strings.ContainsAny(p, "*?[") {
			if err := expand(p, true); err != nil {
				return nil, err
			}
			continue
		}
		matches, err := filepath.Glob(p)
		if err != nil {
			return nil, fmt.Errorf("trace pattern %q: %w", p, err)
		}
		if len(matches) == 0 {
			return nil, fmt.Errorf("trace pattern %q matches no file", p)
		}
		for _, m := range matches {
			if err := expand(m, false); err != nil {
				return nil, err
			}
		}
	}
	if len(out) == 0 {
		return nil, errors.New("no trace files given")
	}
	return out, nil
}

// Load reads the fix files named by paths (see ReadFiles) and cleans each
// vehicle's trace (see Clean). Vehicles left without fixes are omitted. The
// Stats chain reading and cleaning (see Stats.Then).
func Load(ctx context.Context, paths []string, f Format, opt CleanOptions) ([]Vehicle, Stats, error) {
	vs, read, err := ReadFiles(ctx, paths, f)
	if err != nil {
		return nil, read, err
	}
	var cleaned Stats
	out := vs[:0]
	for _, v := range vs {
		fixes, st := Clean(v.Fixes, opt)
		cleaned = cleaned.Add(st)
		if len(fixes) > 0 {
			out = append(out, Vehicle{ID: v.ID, Fixes: fixes})
		}
	}
	return out, read.Then(cleaned), nil
}
