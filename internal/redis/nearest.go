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

// Nearest implements dispatch.Locator. Redis GEOSEARCH is only the
// candidate pre-filter: its radius is widened by geoSlack and rescaled to
// Redis's Earth radius, it over-fetches (COUNT 4k+20) and a Lua script
// returns, for the members found, only those available and fresh, with
// their raw coordinates. Distances are then geo.Distance on the raw
// coordinates, sorted by (distance, id), exactly as the memory locator
// computes them. This node's fixes not yet flushed come from its pending
// index; for each driver the newest fix wins. When the filters leave fewer
// than k results closer than any member GEOSEARCH did not return, the
// search repeats with a four times larger COUNT.
func (l *Locator) Nearest(ctx context.Context, center geo.Point, radius float64, k int, seenAfter int64, skip func(id string) bool) ([]dispatch.Candidate, error) {
	if center.Validate() != nil {
		return []dispatch.Candidate{}, nil
	}
	unlimited := !(radius > 0) || math.IsInf(radius, 1)
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
	rr := unlimitedRadius
	if !unlimited {
		rr = (radius+shift)*redisRatio + geoSlack
	}
	count := 0
	if k > 0 {
		count = 4*k + 20
	}
	keys := []string{l.k.geo(), l.k.pos(), l.k.avail()}
	for {
		args := append([]any{formatCoord(qc.Lon), formatCoord(qc.Lat), rr, count, seenAfter}, extra...)
		res, err := scriptNearest.Run(ctx, l.c, keys, args...).Slice()
		if err != nil {
			return nil, fmt.Errorf("redis: nearest: %w", err)
		}
		if len(res) != 4 {
			return nil, fmt.Errorf("redis: nearest: unexpected reply %v", res)
		}
		n, _ := res[0].(int64)
		last, _ := res[1].(string)
		found, _ := res[2].([]any)
		ext, _ := res[3].([]any)

		out := make([]dispatch.Candidate, 0, len(found)/2+len(local))
		done := make(map[string]struct{}, len(found)/2)
		consider := func(id string, p geo.Point, seen int64) {
			if seen < seenAfter || (skip != nil && skip(id)) {
				return
			}
			d := geo.Distance(center, p)
			if !unlimited && d > radius {
				return
			}
			out = append(out, dispatch.Candidate{ID: id, Point: p, Distance: d, Seen: seen})
		}
		for i := 0; i+1 < len(found); i += 2 {
			id, _ := found[i].(string)
			raw, _ := found[i+1].(string)
			p, seen, err := parseRaw(raw)
			if err != nil {
				return nil, fmt.Errorf("redis: nearest: %w", err)
			}
			if lp, ls, ok := l.pend.Get(id); ok && ls >= seen {
				p, seen = lp, ls // this node's newer fix, not yet flushed
			}
			done[id] = struct{}{}
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
					return nil, fmt.Errorf("redis: nearest: %w", err)
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
		if count == 0 || n < int64(count) {
			return out, nil // GEOSEARCH returned every member in range
		}
		// Members GEOSEARCH left out are at least this far (ours) away.
		var lastDist float64
		if _, err := fmt.Sscan(last, &lastDist); err != nil {
			return nil, fmt.Errorf("redis: nearest: bad distance %q", last)
		}
		bound := lastDist/redisRatio - geoSlack - shift
		if len(out) == k && out[k-1].Distance < bound {
			return out, nil
		}
		count *= 4
	}
}
