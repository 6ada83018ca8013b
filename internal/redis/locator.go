package redis

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	goredis "github.com/redis/go-redis/v9"

	"github.com/ridehail/dispatch/dispatch"
	"github.com/ridehail/dispatch/geo"
)

// Locator is the Redis dispatch.Locator. Positions live in Redis, per
// region: a GEO set (the search pre-filter), a last-seen sorted set (for
// the sweeper) and a hash of the raw coordinates (the truth: GEO stores a
// 52-bit geohash that moves a point by up to ~0.3 m). Availability is a
// Redis set, so every node agrees on it.
//
// Update only touches memory: the fix goes into pend, an in-memory
// geo.Index of this node's fixes not yet mirrored, and into a coalescing
// map (latest fix per driver wins) that Flush sends as one pipeline. Until
// a fix has landed, Nearest and Position on this node see it through pend;
// other nodes see it after the flush.
type Locator struct {
	c goredis.UniversalClient
	k keys

	pend   *geo.Index
	shards [pendShards]pendShard

	// flushMu serialises Flush with Remove and the Redis part of Sweep, so
	// a flush in flight never re-adds a driver they just deleted.
	flushMu  sync.Mutex
	flushBuf []sentFix // reused by Flush, under flushMu

	flushes, landed, flushErrs atomic.Int64
}

const pendShards = 64

// pendShard holds the fixes not yet handed to a flush.
type pendShard struct {
	mu    sync.Mutex
	m     map[string]fix
	spare map[string]fix // the map of the last flush, cleared, for reuse
}

type fix struct {
	p    geo.Point
	seen int64
}

var _ dispatch.Locator = (*Locator)(nil)

// NewLocator returns a locator for region on c.
func NewLocator(c goredis.UniversalClient, region string) (*Locator, error) {
	k, err := newKeys(region)
	if err != nil {
		return nil, err
	}
	l := &Locator{c: c, k: k, pend: geo.NewIndex()}
	for i := range l.shards {
		l.shards[i].m = make(map[string]fix)
	}
	return l, nil
}

func (l *Locator) shard(id string) *pendShard {
	h := uint32(2166136261) // FNV-1a
	for i := 0; i < len(id); i++ {
		h ^= uint32(id[i])
		h *= 16777619
	}
	return &l.shards[h%pendShards]
}

// checkIndexable matches the memory locator: a valid point whose latitude
// Redis GEO can store.
func checkIndexable(p geo.Point) error {
	if err := p.Validate(); err != nil {
		return err
	}
	if p.Lat > dispatch.MaxDriverLat || p.Lat < -dispatch.MaxDriverLat {
		return fmt.Errorf("%w: lat must be within [-%v, %v] for a driver position, got %v",
			geo.ErrInvalidPoint, dispatch.MaxDriverLat, dispatch.MaxDriverLat, p.Lat)
	}
	return nil
}

// Update implements dispatch.Locator. It validates p (an invalid point,
// including |lat| > 85.05112878, fails with an error wrapping
// geo.ErrInvalidPoint and is never mirrored, so one bad fix cannot fail a
// whole GEOADD) and records the fix in memory; it does no Redis I/O.
func (l *Locator) Update(_ context.Context, id string, p geo.Point, seen int64) error {
	if err := checkIndexable(p); err != nil {
		return fmt.Errorf("locator: update %q: %w", id, err)
	}
	sh := l.shard(id)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if err := l.pend.Upsert(id, p, seen); err != nil {
		return fmt.Errorf("locator: update %q: %w", id, err)
	}
	sh.m[id] = fix{p: p, seen: seen}
	return nil
}

// SetAvailable implements dispatch.Locator.
func (l *Locator) SetAvailable(ctx context.Context, id string, available bool) error {
	var err error
	if available {
		err = l.c.SAdd(ctx, l.k.avail(), id).Err()
	} else {
		err = l.c.SRem(ctx, l.k.avail(), id).Err()
	}
	if err != nil {
		return fmt.Errorf("redis: set available %q: %w", id, err)
	}
	return nil
}

// Remove implements dispatch.Locator: it drops id's pending fix and its
// entries in the GEO set, the last-seen set and the raw hash. Like the
// memory locator it leaves availability alone.
func (l *Locator) Remove(ctx context.Context, id string) error {
	sh := l.shard(id)
	sh.mu.Lock()
	delete(sh.m, id)
	l.pend.Remove(id)
	sh.mu.Unlock()

	l.flushMu.Lock()
	defer l.flushMu.Unlock()
	if err := scriptRemove.Run(ctx, l.c, l.posKeys(), id).Err(); err != nil {
		return fmt.Errorf("redis: remove driver %q: %w", id, err)
	}
	return nil
}

// Position implements dispatch.Locator: the newer of this node's pending
// fix and the raw coordinates stored in Redis.
func (l *Locator) Position(ctx context.Context, id string) (geo.Point, int64, bool, error) {
	lp, ls, lok := l.pend.Get(id)
	raw, err := l.c.HGet(ctx, l.k.pos(), id).Result()
	if errors.Is(err, goredis.Nil) {
		return lp, ls, lok, nil
	}
	if err != nil {
		return geo.Point{}, 0, false, fmt.Errorf("redis: position %q: %w", id, err)
	}
	rp, rs, err := parseRaw(raw)
	if err != nil {
		return geo.Point{}, 0, false, fmt.Errorf("redis: position %q: %w", id, err)
	}
	if lok && ls >= rs {
		return lp, ls, true, nil
	}
	return rp, rs, true, nil
}

// Sweep implements dispatch.Locator. It forgets pending fixes seen before
// before, then removes, in one Lua script per batch, the members last seen
// before before from the GEO set, the last-seen set and the raw hash. Every
// node may run it at any time: the script is atomic and idempotent, and a
// member refreshed in between is simply no longer selected. It returns the
// removed ids, sorted.
func (l *Locator) Sweep(ctx context.Context, before int64) ([]string, error) {
	swept := l.pend.Sweep(before)
	for _, id := range swept {
		sh := l.shard(id)
		sh.mu.Lock()
		if f, ok := sh.m[id]; ok && f.seen < before {
			delete(sh.m, id)
		}
		sh.mu.Unlock()
	}

	l.flushMu.Lock()
	defer l.flushMu.Unlock()
	const batch = 1000
	for {
		ids, err := scriptSweep.Run(ctx, l.c, l.posKeys(), before, batch).StringSlice()
		if err != nil {
			return nil, fmt.Errorf("redis: sweep: %w", err)
		}
		swept = append(swept, ids...)
		if len(ids) < batch {
			break
		}
	}
	if len(swept) == 0 {
		return nil, nil
	}
	slices.Sort(swept)
	return slices.Compact(swept), nil
}

// posKeys are the keys of the position scripts: geo, seen, pos.
func (l *Locator) posKeys() []string { return []string{l.k.geo(), l.k.seen(), l.k.pos()} }

// formatCoord formats a coordinate so that it parses back to the same
// float64 ('g', precision -1: the shortest exact form).
func formatCoord(x float64) string { return strconv.FormatFloat(x, 'g', -1, 64) }

// appendRaw and parseRaw encode the raw-coordinates hash value
// "lat,lon,seen", exact to the bit.
func appendRaw(dst []byte, p geo.Point, seen int64) []byte {
	dst = strconv.AppendFloat(dst, p.Lat, 'g', -1, 64)
	dst = append(dst, ',')
	dst = strconv.AppendFloat(dst, p.Lon, 'g', -1, 64)
	dst = append(dst, ',')
	return strconv.AppendInt(dst, seen, 10)
}

func parseRaw(raw string) (geo.Point, int64, error) {
	a, rest, ok1 := strings.Cut(raw, ",")
	b, c, ok2 := strings.Cut(rest, ",")
	if !ok1 || !ok2 {
		return geo.Point{}, 0, fmt.Errorf("bad position %q", raw)
	}
	lat, err1 := strconv.ParseFloat(a, 64)
	lon, err2 := strconv.ParseFloat(b, 64)
	seen, err3 := strconv.ParseInt(c, 10, 64)
	if err := errors.Join(err1, err2, err3); err != nil {
		return geo.Point{}, 0, fmt.Errorf("bad position %q: %w", raw, err)
	}
	return geo.Point{Lat: lat, Lon: lon}, seen, nil
}

// LocatorStats counts the mirror's work since the locator was made.
type LocatorStats struct {
	Pending     int   // fixes waiting for the next flush
	Flushes     int64 // flushes that sent something
	Landed      int64 // fixes written to Redis (older ones are skipped)
	FlushErrors int64 // failed flushes (their fixes are retried)
}

// Stats returns the mirror's counters.
func (l *Locator) Stats() LocatorStats {
	s := LocatorStats{Flushes: l.flushes.Load(), Landed: l.landed.Load(), FlushErrors: l.flushErrs.Load()}
	for i := range l.shards {
		sh := &l.shards[i]
		sh.mu.Lock()
		s.Pending += len(sh.m)
		sh.mu.Unlock()
	}
	return s
}
