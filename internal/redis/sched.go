package redis

import (
	"context"
	"fmt"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/ridehail/dispatch/dispatch"
)

// Scheduler is the Redis dispatch.Scheduler: one sorted set per region,
// member = timer key, score = due time in Unix ms. Due claims keys in a Lua
// script, so two nodes never claim the same key and a claim is a lease.
type Scheduler struct {
	c goredis.UniversalClient
	k keys
}

var _ dispatch.Scheduler = (*Scheduler)(nil)

// NewScheduler returns a scheduler for region on c.
func NewScheduler(c goredis.UniversalClient, region string) (*Scheduler, error) {
	k, err := newKeys(region)
	if err != nil {
		return nil, err
	}
	return &Scheduler{c: c, k: k}, nil
}

// Schedule implements dispatch.Scheduler.
func (s *Scheduler) Schedule(ctx context.Context, key string, at time.Time) error {
	if err := s.c.ZAdd(ctx, s.k.timers(), goredis.Z{Score: float64(at.UnixMilli()), Member: key}).Err(); err != nil {
		return fmt.Errorf("redis: schedule %s: %w", key, err)
	}
	return nil
}

// Cancel implements dispatch.Scheduler.
func (s *Scheduler) Cancel(ctx context.Context, key string) error {
	if err := s.c.ZRem(ctx, s.k.timers(), key).Err(); err != nil {
		return fmt.Errorf("redis: cancel timer %s: %w", key, err)
	}
	return nil
}

// Due implements dispatch.Scheduler.
func (s *Scheduler) Due(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]string, error) {
	if limit <= 0 {
		return nil, nil
	}
	ms := now.UnixMilli()
	keys, err := scriptDue.Run(ctx, s.c, []string{s.k.timers()}, ms, ms+lease.Milliseconds(), limit).StringSlice()
	if err != nil {
		return nil, fmt.Errorf("redis: due timers: %w", err)
	}
	if len(keys) == 0 {
		return nil, nil
	}
	return keys, nil
}
