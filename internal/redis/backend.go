package redis

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/ridehail/dispatch/dispatch"
)

// Options configures a Backend. Zero fields take the defaults shown.
type Options struct {
	// Region names the key space (hash tag {Region}). Default "default".
	Region string
	// StaleAfter is how long a driver may stay silent before the sweeper
	// removes it from the GEO set. Default 30s.
	StaleAfter time.Duration
	// FlushInterval is how often pending fixes are mirrored. Default 100ms.
	FlushInterval time.Duration
	// SweepInterval is how often stale drivers are swept. Default 5s.
	SweepInterval time.Duration
	// IdempotencyTTL is how long an Idempotency-Key is remembered.
	// Default 24h.
	IdempotencyTTL time.Duration
	// RideRetention is how long a finished ride is kept after its last
	// change. Default 24h, never less than IdempotencyTTL.
	RideRetention time.Duration
	// Logger receives the background loops' errors. Default slog.Default().
	Logger *slog.Logger
	// NodeID, when set, makes Run keep a heartbeat for this node (a key
	// refreshed every HeartbeatInterval that expires after NodeTTL), which
	// NodeAlive reads on any node.
	NodeID string
	// HeartbeatInterval is how often the heartbeat is refreshed. Default
	// 2s, or NodeTTL/5 when that is shorter.
	HeartbeatInterval time.Duration
	// NodeTTL is how long a node that stopped its heartbeat (killed) is
	// still taken for alive. Default 15s: several missed beats, so a
	// paused or busy node is not declared dead.
	NodeTTL time.Duration
	// EngineSweeps says the engine sweeps stale drivers itself (through
	// Locator.Sweep, so that it sees whom it swept): Run then does not.
	EngineSweeps bool
}

func (o Options) withDefaults() Options {
	if o.Region == "" {
		o.Region = "default"
	}
	if o.StaleAfter <= 0 {
		o.StaleAfter = 30 * time.Second
	}
	if o.FlushInterval <= 0 {
		o.FlushInterval = 100 * time.Millisecond
	}
	if o.SweepInterval <= 0 {
		o.SweepInterval = 5 * time.Second
	}
	if o.IdempotencyTTL <= 0 {
		o.IdempotencyTTL = 24 * time.Hour
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.NodeTTL <= 0 {
		o.NodeTTL = 15 * time.Second
	}
	if o.HeartbeatInterval <= 0 {
		o.HeartbeatInterval = max(min(2*time.Second, o.NodeTTL/5), 10*time.Millisecond)
	}
	o.NodeTTL = max(o.NodeTTL, 2*o.HeartbeatInterval)
	return o
}

// Backend is the Redis implementation of every dispatch storage interface
// for one region, on one client.
type Backend struct {
	Store     *Store // dispatch.RideStore and dispatch.DriverStore
	Locker    *Locker
	Scheduler *Scheduler
	Locator   *Locator
	Client    goredis.UniversalClient

	opt       Options
	closeOnce sync.Once
}

// Open connects to url (see NewClient for the schemes: redis://, rediss://,
// unix://, redis-cluster://, redis-sentinel://), checks the connection
// with PING and returns the backend. Close it when done.
func Open(ctx context.Context, url string, opt Options) (*Backend, error) {
	c, err := NewClient(url)
	if err != nil {
		return nil, err
	}
	b, err := NewBackend(c, opt)
	if err == nil {
		err = b.Ping(ctx)
	}
	if err != nil {
		_ = c.Close()
		return nil, err
	}
	return b, nil
}

// NewBackend returns a backend on an existing client, without I/O. Close
// closes c.
func NewBackend(c goredis.UniversalClient, opt Options) (*Backend, error) {
	opt = opt.withDefaults()
	st, err := NewStore(c, opt.Region, opt.IdempotencyTTL, opt.RideRetention)
	if err != nil {
		return nil, err
	}
	lk, _ := NewLocker(c, opt.Region)
	sc, _ := NewScheduler(c, opt.Region)
	lo, _ := NewLocator(c, opt.Region)
	return &Backend{Store: st, Locker: lk, Scheduler: sc, Locator: lo, Client: c, opt: opt}, nil
}

// Run mirrors pending driver fixes to Redis every FlushInterval, sweeps
// drivers silent for StaleAfter every SweepInterval (unless EngineSweeps)
// and keeps this node's heartbeat (with NodeID), until ctx ends. Every node
// runs it. Errors are logged and retried on the next tick. When ctx ends it
// makes a last flush (bounded by 2 s), removes the heartbeat and returns
// nil.
func (b *Backend) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	wg.Go(func() {
		b.loop(ctx, b.opt.FlushInterval, func(ctx context.Context) error {
			_, err := b.Locator.Flush(ctx)
			return err
		}, "flush")
	})
	if !b.opt.EngineSweeps {
		wg.Go(func() {
			b.loop(ctx, b.opt.SweepInterval, func(ctx context.Context) error {
				_, err := b.Locator.Sweep(ctx, time.Now().Add(-b.opt.StaleAfter).UnixMilli())
				return err
			}, "sweep")
		})
	}
	if b.opt.NodeID != "" {
		if err := b.Heartbeat(ctx); err != nil {
			b.opt.Logger.Warn("redis: heartbeat", "err", err)
		}
		wg.Go(func() { b.loop(ctx, b.opt.HeartbeatInterval, b.Heartbeat, "heartbeat") })
	}
	wg.Wait()
	final, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	if _, err := b.Locator.Flush(final); err != nil {
		b.opt.Logger.Warn("redis: final flush", "err", err)
	}
	if b.opt.NodeID != "" {
		if err := b.Client.Del(final, b.Store.k.node(b.opt.NodeID)).Err(); err != nil {
			b.opt.Logger.Warn("redis: heartbeat removal", "err", err)
		}
	}
	return nil
}

// Heartbeat marks this node (Options.NodeID) alive for NodeTTL.
func (b *Backend) Heartbeat(ctx context.Context) error {
	if err := b.Client.Set(ctx, b.Store.k.node(b.opt.NodeID), time.Now().UnixMilli(), b.opt.NodeTTL).Err(); err != nil {
		return fmt.Errorf("redis: heartbeat: %w", err)
	}
	return nil
}

// NodeAlive implements dispatch.Presence: whether node's heartbeat is
// less than NodeTTL old.
func (b *Backend) NodeAlive(ctx context.Context, node string) (bool, error) {
	n, err := b.Client.Exists(ctx, b.Store.k.node(node)).Result()
	if err != nil {
		return false, fmt.Errorf("redis: node %q alive: %w", node, err)
	}
	return n == 1, nil
}

var _ dispatch.Presence = (*Backend)(nil)

// loop runs fn every interval until ctx ends. Each run is bounded by a
// timeout so a hung connection cannot stall the loop for good.
func (b *Backend) loop(ctx context.Context, interval time.Duration, fn func(context.Context) error, what string) {
	t := time.NewTicker(interval)
	defer t.Stop()
	timeout := max(10*interval, 5*time.Second)
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		runCtx, cancel := context.WithTimeout(ctx, timeout)
		err := fn(runCtx)
		cancel()
		if err != nil && ctx.Err() == nil {
			b.opt.Logger.Warn("redis: "+what, "region", b.opt.Region, "err", err)
		}
	}
}

// Ping checks the connection (every master's, on Redis Cluster).
func (b *Backend) Ping(ctx context.Context) error {
	var err error
	if cc, ok := b.Client.(*goredis.ClusterClient); ok {
		err = cc.ForEachMaster(ctx, func(ctx context.Context, c *goredis.Client) error {
			return c.Ping(ctx).Err()
		})
	} else {
		err = b.Client.Ping(ctx).Err()
	}
	if err != nil {
		return fmt.Errorf("redis: ping: %w", err)
	}
	return nil
}

// Close closes the client. Stop Run first: fixes still pending are lost.
func (b *Backend) Close() error {
	err := goredis.ErrClosed
	b.closeOnce.Do(func() { err = b.Client.Close() })
	if err != nil && !errors.Is(err, goredis.ErrClosed) {
		return fmt.Errorf("redis: close: %w", err)
	}
	return nil
}
