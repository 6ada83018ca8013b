package redis

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"slices"

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
	unlimitedRadius = 2.5e7
)

// nearestStartRadius is the first search radius (metres) when k is
// bounded; it grows fourfold while fewer than k drivers are found. A
// GEOSEARCH costs in proportion to the members in the cells it covers, so
// in a dense city a small first circle is much cheaper than the full
// radius.
const nearestStartRadius = 250.0

// Nearest implements dispatch.Locator. Redis GEOSEARCH is only the
// candidate pre-filter: a Lua script runs it (radius widened by geoSlack
// and rescaled to Redis's Earth radius, COUNT 4k+20) and returns only the
// members that are available and fresh, with their raw coordinates.
// Distances are geo.Distance on the raw coordinates, sorted by (distance,
// id), exactly as the memory locator computes them. This node's fixes not
// yet flushed come from its pending index; for each driver the newest fix
// wins.
//
// The search starts at nearestStartRadius and grows fourfold up to radius
// until k drivers are nearer than anything it may have missed: members
// outside the searched circle, or, when COUNT cut the reply, members
// farther than the last one returned (then COUNT grows fourfold instead).
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
	local := l.pend.Nearest(q, nil)
	extra := make([]any, len(local))
	for i, h := range local {
		extra[i] = h.ID
	}

	// GEOSEARCH refuses centres beyond the GEO latitude limit; search from
	// the nearest allowed point, widened by the shift.
	qc := geo.Point{Lat: geoLat(center.Lat), Lon: center.Lon}
	shift := geo.Distance(center, qc)
	rho, count := radius, 0
	if k > 0 {
		rho, count = min(radius, nearestStartRadius), 4*k+20
	}
	keys := []string{l.k.geo(), l.k.pos(), l.k.avail()}
	args := make([]any, 5, 5+len(extra))
	args[0], args[1], args[4] = formatCoord(qc.Lon), formatCoord(qc.Lat), seenAfter
	args = append(args, extra...)
	var out []dispatch.Candidate
	for {
		args[2] = unlimitedRadius
		if !math.IsInf(rho, 1) {
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
		cut := count > 0 && n >= int64(count)
		if !cut && rho >= radius {
			return out, nil // every member within radius was seen
		}
		// Anything GEOSEARCH did not return is farther than bound.
		bound := rho
		if cut {
			var lastDist float64
			if _, err := fmt.Sscan(last, &lastDist); err != nil {
				return nil, fmt.Errorf("redis: nearest: bad distance %q", last)
			}
			bound = min(bound, lastDist/redisRatio-geoSlack-shift)
		}
		if len(out) == k && out[k-1].Distance < bound {
			return out, nil
		}
		if cut {
			count *= 4
		} else {
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
		if raw, _ := ext[2*i+1].(string); raw != "" {
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
