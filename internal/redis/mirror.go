package redis

import (
	"context"
	"fmt"

	goredis "github.com/redis/go-redis/v9"
)

// mirrorChunk is how many fixes one mirror script call carries (five
// arguments each, well under Lua's unpack limit).
const mirrorChunk = 1000

// geoLatMax is the largest |latitude| written to the GEO set. Redis accepts
// ±85.05112878 in GEOADD, but a member at exactly +85.05112878 (or at
// longitude +180) gets a geohash that overflows its 26 bits and is never
// found by GEOSEARCH. The GEO set is only a pre-filter, so such a fix is
// written 9 mm south (longitude +180 as the same meridian -180) and its raw
// coordinates are kept exact in the hash.
const geoLatMax = 85.0511287

func geoLat(lat float64) float64 { return max(min(lat, geoLatMax), -geoLatMax) }

func geoLon(lon float64) float64 {
	if lon >= 180 {
		return -180
	}
	return lon
}

// Flush sends every pending fix to Redis as one pipeline of mirror
// scripts, each writing GEOADD + ZADD (last seen) + HSET (raw coordinates)
// for up to mirrorChunk drivers and skipping a fix older than the one
// stored (another node may have written a newer one). It returns how many
// fixes landed. On error the fixes go back to the pending set, unless a
// newer fix, Remove or Sweep replaced them meanwhile. Backend.Run calls it
// every FlushInterval.
func (l *Locator) Flush(ctx context.Context) (int, error) {
	l.flushMu.Lock()
	defer l.flushMu.Unlock()

	var batch [pendShards]map[string]fix
	total := 0
	for i := range l.shards {
		sh := &l.shards[i]
		sh.mu.Lock()
		if len(sh.m) > 0 {
			batch[i] = sh.m
			total += len(sh.m)
			sh.m = sh.spare
			if sh.m == nil {
				sh.m = make(map[string]fix, len(batch[i]))
			}
			sh.spare = nil
		}
		sh.mu.Unlock()
	}
	if total == 0 {
		return 0, nil
	}

	pipe := l.c.Pipeline()
	keys := l.posKeys()
	const argsPerFix = 5
	args := make([]any, 0, argsPerFix*min(total, mirrorChunk))
	var buf []byte
	for _, m := range batch {
		for id, f := range m {
			buf = appendRaw(buf[:0], f.p, f.seen)
			args = append(args, id, string(buf), f.seen,
				formatCoord(geoLon(f.p.Lon)), formatCoord(geoLat(f.p.Lat)))
			if len(args) == argsPerFix*mirrorChunk {
				scriptMirror.Eval(ctx, pipe, keys, args...)
				args = make([]any, 0, argsPerFix*min(total, mirrorChunk))
			}
		}
	}
	if len(args) > 0 {
		scriptMirror.Eval(ctx, pipe, keys, args...)
	}
	cmds, err := pipe.Exec(ctx)
	landed := 0
	for _, c := range cmds {
		if c, ok := c.(*goredis.Cmd); ok {
			if n, e := c.Int(); e == nil {
				landed += n
			}
		}
	}
	l.landed.Add(int64(landed))
	l.flushes.Add(1)

	for i, m := range batch {
		if m == nil {
			continue
		}
		sh := &l.shards[i]
		sh.mu.Lock()
		for id, f := range m {
			if _, newer := sh.m[id]; newer {
				continue
			}
			if err == nil {
				l.pend.Remove(id) // landed: Redis serves it now
			} else if _, seen, ok := l.pend.Get(id); ok && seen == f.seen {
				sh.m[id] = f // failed: retry at the next flush
			}
		}
		clear(m)
		sh.spare = m
		sh.mu.Unlock()
	}
	if err != nil {
		l.flushErrs.Add(1)
		return landed, fmt.Errorf("redis: flush %d fixes: %w", total, err)
	}
	return landed, nil
}
