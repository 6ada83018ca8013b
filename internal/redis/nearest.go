package redis

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"slices"
	"strconv"

	"github.com/ridehail/dispatch/dispatch"
	"github.com/ridehail/dispatch/geo"
)

// Redis measures GEO distances with haversine on a sphere of this radius;
// geo.Distance uses geo.EarthRadius. For the same two points Redis's
// distance is redisRatio times ours.
const (
	redisEarthRadius = 6372797.560856
	redisRatio       = redisEarthRadius / geo.EarthRadius
	// geoSlack bounds, in metres, how far a GEO member's decoded geohash
	// lies from its raw coordinates (under 0.35 m, plus geoLat's 9 mm),
	// with room for rounding.
	geoSlack = 2.0
	// unlimitedRadius is a GEOSEARCH radius that covers the Earth.
	unlimitedRadius = 2.2e7
)

// nearestStartRadius is the first search radius (metres) when k is
// bounded; it grows fourfold while fewer than k drivers are found. A
// GEOSEARCH costs in proportion to the members in the cells it covers, so
// in a dense city a small first circle is much cheaper than the full
// radius.
const nearestStartRadius = 250.0

// maxDistance is half the Earth's circumference in geo.Distance metres: a
// circle of this radius covers every point.
const maxDistance = math.Pi * geo.EarthRadius

// Nearest implements dispatch.Locator. Redis GEOSEARCH is only the
// candidate pre-filter: a Lua script runs it (radius widened by geoSlack
// and rescaled to Redis's Earth radius, COUNT 4k+20) and returns only the
// members that are available, with their raw coordinates and last fix.
// Distances are geo.Distance on the raw coordinates, sorted by (distance,
// id), exactly as the memory locator computes them. This node's fixes not
// yet flushed come from its pending index (the nearest 4k+20 of them); for
// each driver the newest fix wins.
//
// Each source may have left drivers out: GEOSEARCH those outside the
// searched circle (which starts at nearestStartRadius) or, when COUNT cut
// its reply, those farther than the last one returned; the pending index
// those farther than its last hit. The answer is final once k drivers are
// nearer than all of these bounds; otherwise the binding limits grow
// fourfold and the search repeats.
func (l *Locator) Nearest(ctx context.Context, center geo.Point, radius float64, k int, seenAfter int64, skip func(id string) bool) ([]dispatch.Candidate, error) {
	if center.Validate() != nil {
		return []dispatch.Candidate{}, nil
	}
	if !(radius > 0) {
		radius = math.Inf(1) // unlimited, as in geo.Query
	}
	q := geo.Query{Center: center, Radius: radius, SeenAfter: seenAfter}
	if skip != nil {
		q.Filter = func(id string) bool { return !skip(id) }
	}
	// GEOSEARCH refuses centres beyond the GEO latitude limit; search from
	// the nearest allowed point, widened by the shift.
	qc := geo.Point{Lat: geoLat(center.Lat), Lon: center.Lon}
	shift := geo.Distance(center, qc)
	rho, count := radius, 0
	if k > 0 {
		rho, count, q.K = min(radius, nearestStartRadius), 4*k+20, 4*k+20
	}
	keys := []string{l.k.geo(), l.k.pos(), l.k.avail()}
	var (
		local []geo.Hit
		args  []any
		out   []dispatch.Candidate
	)
	searchLocal := func() {
		local = l.pend.Nearest(q, local)
		args = append(args[:0], formatCoord(qc.Lon), formatCoord(qc.Lat), nil, nil)
		for _, h := range local {
			args = append(args, h.ID)
		}
	}
	searchLocal()
	for {
		args[2] = unlimitedRadius
		if rho < maxDistance {
			args[2] = (rho+shift)*redisRatio + geoSlack
		}
		args[3] = count
		res, err := scriptNearest.Run(ctx, l.c, keys, args...).Slice()
		if err != nil {
			return nil, fmt.Errorf("redis: nearest: %w", err)
		}
		var n int64
		var last string
		if out, n, last, err = l.merge(res, local, center, radius, k, seenAfter, skip, out[:0]); err != nil {
			return nil, fmt.Errorf("redis: nearest: %w", err)
		}

		// What each source may have left out is at least this far away.
		inf := math.Inf(1)
		circle, cutAt, localAt := inf, inf, inf
		if rho < radius && rho < maxDistance {
			circle = rho
		}
		if count > 0 && n >= int64(count) {
			lastDist, err := strconv.ParseFloat(last, 64)
			if err != nil {
				return nil, fmt.Errorf("redis: nearest: bad distance %q", last)
			}
			cutAt = lastDist/redisRatio - geoSlack - shift
		}
		if q.K > 0 && len(local) == q.K {
			localAt = local[len(local)-1].Distance
		}
		bound := min(circle, cutAt, localAt)
		if math.IsInf(bound, 1) {
			return out, nil // nothing was left out
		}
		kth := inf
		if len(out) == k {
			kth = out[k-1].Distance
		}
		if kth < bound {
			return out, nil
		}
		if cutAt <= kth {
			count *= 4
		}
		if localAt <= kth {
			q.K *= 4
			searchLocal()
		}
		if circle <= kth {
			rho = min(rho*4, radius)
		}
	}
}

// merge turns a scriptNearest reply into candidates, with this node's
// pending fixes (local, whose Redis state is the reply's extra list),
// sorted by (distance, id) and cut to k. It also returns how many members
// GEOSEARCH returned and the Redis distance of the last one.
func (l *Locator) merge(res []any, local []geo.Hit, center geo.Point, radius float64, k int, seenAfter int64,
	skip func(string) bool, out []dispatch.Candidate) ([]dispatch.Candidate, int64, string, error) {
	if len(res) != 4 {
		return nil, 0, "", fmt.Errorf("unexpected reply %v", res)
	}
	n, _ := res[0].(int64)
	last, _ := res[1].(string)
	found, _ := res[2].([]any)
	ext, _ := res[3].([]any)

	consider := func(id string, p geo.Point, seen int64) {
		if seen < seenAfter || (skip != nil && skip(id)) {
			return
		}
		if d := geo.Distance(center, p); d <= radius {
			out = append(out, dispatch.Candidate{ID: id, Point: p, Distance: d, Seen: seen})
		}
	}
	var done map[string]struct{}
	if len(local) > 0 {
		done = make(map[string]struct{}, len(found)/2)
	}
	for i := 0; i+1 < len(found); i += 2 {
		id, _ := found[i].(string)
		raw, _ := found[i+1].(string)
		p, seen, err := parseRaw(raw)
		if err != nil {
			return nil, 0, "", err
		}
		// This node's newer fix, not yet flushed, wins, even when it lies
		// outside the circle (and so is not among local).
		if lp, ls, ok := l.pend.Get(id); ok && ls >= seen {
			p, seen = lp, ls
		}
		if done != nil {
			done[id] = struct{}{}
		}
		consider(id, p, seen)
	}
	for i, h := range local {
		if _, dup := done[h.ID]; dup || 2*i+1 >= len(ext) {
			continue
		}
		if avail, _ := ext[2*i].(int64); avail != 1 {
			continue
		}
		p, seen := h.Point, h.Seen
		if raw, ok := ext[2*i+1].(string); ok && raw != "" {
			rp, rs, err := parseRaw(raw)
			if err != nil {
				return nil, 0, "", err
			}
			if rs > seen {
				p, seen = rp, rs // another node wrote a newer fix
			}
		}
		consider(h.ID, p, seen)
	}
	slices.SortFunc(out, func(a, b dispatch.Candidate) int {
		if c := cmp.Compare(a.Distance, b.Distance); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
	if k > 0 && len(out) > k {
		out = out[:k]
	}
	return out, n, last, nil
}
