package redis

import (
	"context"
	"fmt"

	goredis "github.com/redis/go-redis/v9"
)

// mirrorChunk is how many fixes one mirror script call carries (five
// arguments each, well under Lua's unpack limit); it also bounds how long
// one call keeps Redis busy. pipelineFixes is how many fixes go in one
// pipeline: a flush larger than that (a backlog) is sent as several
// pipelines, so a timeout loses only the unsent part.
const (
	mirrorChunk   = 500
	pipelineFixes = 20_000
)

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

// Flush sends every pending fix to Redis as one pipeline (one per
// pipelineFixes for a larger backlog) of mirror scripts, each writing
// GEOADD + ZADD (last seen) + HSET (raw coordinates) for up to mirrorChunk
// drivers and skipping a fix older than the one stored (another node may
// have written a newer one). It returns how many fixes landed. On error
// the fixes not confirmed go back to the pending set, unless a newer fix,
// Remove or Sweep replaced them meanwhile. Backend.Run calls it every
// FlushInterval.
func (l *Locator) Flush(ctx context.Context) (int, error) {
	l.flushMu.Lock()
	defer l.flushMu.Unlock()

	var batch [pendShards]map[string]fix
	all := l.flushBuf[:0]
	for i := range l.shards {
		sh := &l.shards[i]
		sh.mu.Lock()
		if len(sh.m) > 0 {
			batch[i] = sh.m
			sh.m = sh.spare
			if sh.m == nil {
				sh.m = make(map[string]fix, len(batch[i]))
			}
			sh.spare = nil
		}
		sh.mu.Unlock()
		for id, f := range batch[i] {
			all = append(all, sentFix{shard: i, id: id, fix: f})
		}
	}
	if len(all) == 0 {
		return 0, nil
	}

	landed := 0
	var err error
	for start := 0; start < len(all); start += pipelineFixes {
		group := all[start:min(start+pipelineFixes, len(all))]
		var n int
		n, err = l.send(ctx, group)
		landed += n
		if err != nil {
			l.settle(all[start:], false) // this group and the unsent rest
			break
		}
		l.settle(group, true)
	}
	l.landed.Add(int64(landed))
	l.flushes.Add(1)

	for i, m := range batch {
		if m != nil {
			clear(m)
			sh := &l.shards[i]
			sh.mu.Lock()
			sh.spare = m
			sh.mu.Unlock()
		}
	}
	clear(all) // drop the ids for the GC; keep the capacity
	l.flushBuf = all[:0]
	if err != nil {
		l.flushErrs.Add(1)
		return landed, fmt.Errorf("redis: flush %d fixes: %w", len(all), err)
	}
	return landed, nil
}

// sentFix is one fix taken from shard for a flush.
type sentFix struct {
	shard int
	id    string
	fix
}

// send writes fixes in one pipeline of mirror scripts and returns how many
// landed.
func (l *Locator) send(ctx context.Context, fixes []sentFix) (int, error) {
	const argsPerFix = 5
	pipe := l.c.Pipeline()
	keys := l.posKeys()
	var buf []byte
	for start := 0; start < len(fixes); start += mirrorChunk {
		chunk := fixes[start:min(start+mirrorChunk, len(fixes))]
		args := make([]any, 0, argsPerFix*len(chunk))
		for _, f := range chunk {
			buf = appendRaw(buf[:0], f.p, f.seen)
			args = append(args, f.id, string(buf), f.seen, formatCoord(geoLon(f.p.Lon)), formatCoord(geoLat(f.p.Lat)))
		}
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
	return landed, err
}

// settle finishes fixes after their pipeline: once landed, Redis serves
// them and they leave the pending index; when it failed, they are pending
// again for the next flush. Either way a fix that a newer Update, Remove
// or Sweep has replaced meanwhile is left alone. fixes come grouped by
// shard.
func (l *Locator) settle(fixes []sentFix, landed bool) {
	for len(fixes) > 0 {
		i := fixes[0].shard
		n := 1
		for n < len(fixes) && fixes[n].shard == i {
			n++
		}
		sh := &l.shards[i]
		sh.mu.Lock()
		for _, f := range fixes[:n] {
			if _, newer := sh.m[f.id]; newer {
				continue
			}
			if landed {
				l.pend.Remove(f.id)
			} else if _, seen, ok := l.pend.Get(f.id); ok && seen == f.seen {
				sh.m[f.id] = f.fix
			}
		}
		sh.mu.Unlock()
		fixes = fixes[n:]
	}
}
