package dispatch

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/ridehail/dispatch/pricing"
)

// Matching policies.
const (
	PolicyBroadcast  = "broadcast"
	PolicySequential = "sequential"
)

// Config tunes the engine. Zero fields take the defaults documented on
// each field.
type Config struct {
	// Policy is broadcast (offer to OfferCount drivers at once) or
	// sequential (one driver at a time, nearest first). Default broadcast.
	Policy string
	// OfferCount is N, the drivers offered a ride per broadcast round. 10.
	OfferCount int
	// OfferTimeout is T, how long a driver has to accept. 15 s (broadcast)
	// or 8 s (sequential).
	OfferTimeout time.Duration
	// Radius is R, the first round's search radius in metres. 5000.
	Radius float64
	// RadiusStep widens the radius each round. 2500.
	RadiusStep float64
	// MaxRadius caps the widening. 15000.
	MaxRadius float64
	// MatchTimeout is how long a ride may stay matching before it becomes
	// no_driver. 120 s.
	MatchTimeout time.Duration
	// RetryInterval is the wait before searching again when a round found
	// nobody. 2 s.
	RetryInterval time.Duration
	// StaleAfter is the freshness window: a driver whose last fix is older
	// is never offered a ride and is swept out of the index. 30 s.
	StaleAfter time.Duration
	// DisconnectGrace is how long an assigned driver may be disconnected
	// before the ride goes back to matching. 30 s.
	DisconnectGrace time.Duration
	// RideRetention is how long the embedded store keeps a finished ride
	// (completed, cancelled, no_driver) after its last change; then
	// GetRide answers not found. 24 h, and never less than the 24 h
	// idempotency window. (The Redis backend has its own option.)
	RideRetention time.Duration
	// SweepInterval is how often stale drivers are swept. 5 s, or half
	// StaleAfter when that is shorter.
	SweepInterval time.Duration
	// NodeID names this node in the records of the drivers connected to
	// it (Driver.Node), for Deps.Presence. Empty on a single node.
	NodeID string
	// TickInterval is how often Run processes due timers. 100 ms.
	TickInterval time.Duration
	// LockTTL bounds how long a per-ride lock is held. 5 s.
	LockTTL time.Duration
	// LockWait bounds how long a caller waits for a per-ride lock. 3 s.
	LockWait time.Duration
	// MaxFixAhead rejects fixes whose ts lies further in the future than
	// this. 5 min.
	MaxFixAhead time.Duration
	// MaxSpeedKmh rejects a fix implying a faster move from the driver's
	// previous fix (by their device timestamps): a spoofed or broken GPS.
	// Moves within GPSJitterM are always accepted. 250 km/h.
	MaxSpeedKmh float64
	GPSJitterM  float64
	// AvgSpeedKmh and DetourFactor estimate ETAs: distance × detour /
	// speed. 25 km/h and 1.3.
	AvgSpeedKmh  float64
	DetourFactor float64
	// FixLag, when set, is told for every accepted fix how long after its
	// device timestamp it was indexed (only when that is within an hour:
	// replays of old traces are not measured). Load tests read it.
	FixLag func(time.Duration)
	// Logger receives the engine's logs. Discarded when nil.
	Logger *slog.Logger
	// NewID makes ride ids. uuid.NewString when nil.
	NewID func() string
}

func (c *Config) setDefaults() {
	if c.Policy == "" {
		c.Policy = PolicyBroadcast
	}
	if c.OfferCount <= 0 {
		c.OfferCount = 10
	}
	if c.OfferTimeout <= 0 {
		c.OfferTimeout = 15 * time.Second
		if c.Policy == PolicySequential {
			c.OfferTimeout = 8 * time.Second
		}
	}
	if c.Radius <= 0 {
		c.Radius = 5000
	}
	if c.RadiusStep <= 0 {
		c.RadiusStep = 2500
	}
	switch {
	case c.MaxRadius <= 0:
		c.MaxRadius = max(15000, c.Radius)
	case c.MaxRadius < c.Radius:
		// A maximum is a promise never to offer a ride farther away:
		// the first round keeps it too.
		c.Radius = c.MaxRadius
	}
	if c.MatchTimeout <= 0 {
		c.MatchTimeout = 120 * time.Second
	}
	if c.RetryInterval <= 0 {
		c.RetryInterval = 2 * time.Second
	}
	if c.StaleAfter <= 0 {
		c.StaleAfter = 30 * time.Second
	}
	if c.DisconnectGrace <= 0 {
		c.DisconnectGrace = 30 * time.Second
	}
	c.RideRetention = max(c.RideRetention, DefaultIdempotencyTTL)
	if c.SweepInterval <= 0 {
		c.SweepInterval = min(5*time.Second, max(c.StaleAfter/2, 100*time.Millisecond))
	}
	if c.TickInterval <= 0 {
		c.TickInterval = 100 * time.Millisecond
	}
	if c.LockTTL <= 0 {
		c.LockTTL = 5 * time.Second
	}
	if c.LockWait <= 0 {
		c.LockWait = 3 * time.Second
	}
	if c.MaxFixAhead <= 0 {
		c.MaxFixAhead = 5 * time.Minute
	}
	if c.MaxSpeedKmh <= 0 {
		c.MaxSpeedKmh = DefaultMaxSpeedKmh
	}
	if c.GPSJitterM <= 0 {
		c.GPSJitterM = 100
	}
	if c.AvgSpeedKmh <= 0 {
		c.AvgSpeedKmh = 25
	}
	if c.DetourFactor <= 0 {
		c.DetourFactor = 1.3
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.NewID == nil {
		c.NewID = uuid.NewString
	}
}

// Validate reports a configuration that cannot work.
func (c Config) Validate() error {
	switch {
	case c.Policy != "" && c.Policy != PolicyBroadcast && c.Policy != PolicySequential:
		return fmt.Errorf("policy must be %q or %q, got %q", PolicyBroadcast, PolicySequential, c.Policy)
	case c.OfferCount < 0 || c.Radius < 0 || c.RadiusStep < 0 || c.MaxRadius < 0:
		return errors.New("offer count and radii must not be negative")
	}
	return nil
}

// Deps are the engine's collaborators. Nil fields get the embedded
// in-memory defaults.
type Deps struct {
	Rides     RideStore
	Drivers   DriverStore
	Locker    Locker
	Scheduler Scheduler
	Locator   Locator
	Notifier  Notifier
	Pricer    Pricer
	Clock     Clock
	// Presence is optional: nil means the engine's drivers are all
	// connected to this process, so none can outlive its node.
	Presence Presence
}

// Engine is the dispatch core. Create it with New; start its timers with
// Run (or drive them with Tick).
type Engine struct {
	cfg     Config
	rides   RideStore
	drivers DriverStore
	locker  Locker
	sched   Scheduler
	loc     Locator
	notify  Notifier
	pricer  Pricer
	clock   Clock
	nodes   Presence // nil on a single node
	log     *slog.Logger

	tracks    trackTable
	lastSweep atomic.Int64
	stats     counters
}

// New returns an engine. It starts no goroutine.
func New(cfg Config, deps Deps) (*Engine, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("dispatch config: %w", err)
	}
	cfg.setDefaults()
	if deps.Clock == nil {
		deps.Clock = wallClock{}
	}
	now := deps.Clock.Now
	if deps.Rides == nil || deps.Drivers == nil {
		s := NewMemStore(now, 0, cfg.RideRetention)
		if deps.Rides == nil {
			deps.Rides = s
		}
		if deps.Drivers == nil {
			deps.Drivers = s
		}
	}
	if deps.Locker == nil {
		deps.Locker = NewMemLocker(nil)
	}
	if deps.Scheduler == nil {
		deps.Scheduler = NewMemScheduler()
	}
	if deps.Locator == nil {
		deps.Locator = NewMemLocator()
	}
	if deps.Notifier == nil {
		deps.Notifier = nopNotifier{}
	}
	if deps.Pricer == nil {
		secret := make([]byte, 32)
		if _, err := rand.Read(secret); err != nil {
			return nil, fmt.Errorf("quote secret: %w", err)
		}
		calc, err := pricing.NewCalculator(pricing.DefaultConfig(), secret, now)
		if err != nil {
			return nil, fmt.Errorf("default pricer: %w", err)
		}
		deps.Pricer = calc
	}
	e := &Engine{
		cfg: cfg, rides: deps.Rides, drivers: deps.Drivers, locker: deps.Locker,
		sched: deps.Scheduler, loc: deps.Locator, notify: deps.Notifier,
		pricer: deps.Pricer, clock: deps.Clock, nodes: deps.Presence, log: cfg.Logger,
	}
	e.tracks.init()
	return e, nil
}

// Config returns the effective configuration (defaults filled in).
func (e *Engine) Config() Config { return e.cfg }

// SetNotifier replaces the notifier. Call it before serving traffic: the
// realtime hub is built after the engine it delivers for.
func (e *Engine) SetNotifier(n Notifier) {
	if n == nil {
		n = nopNotifier{}
	}
	e.notify = n
}

// Run processes due timers every TickInterval until ctx ends.
func (e *Engine) Run(ctx context.Context) error {
	t := time.NewTicker(e.cfg.TickInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if err := e.Tick(ctx); err != nil && ctx.Err() == nil {
				e.log.Warn("tick", "err", err)
			}
		}
	}
}

// Tick processes every timer due now: offer expiry, matching rounds, the
// matching timeout, disconnect grace periods, and the stale-driver sweep.
func (e *Engine) Tick(ctx context.Context) error {
	now := e.clock.Now()
	if last := e.lastSweep.Load(); now.UnixMilli()-last >= e.cfg.SweepInterval.Milliseconds() {
		e.lastSweep.Store(now.UnixMilli())
		swept, err := e.loc.Sweep(ctx, now.Add(-e.cfg.StaleAfter).UnixMilli())
		if err != nil {
			return fmt.Errorf("sweep: %w", err)
		}
		e.reapOrphans(ctx, swept)
	}
	for {
		keys, err := e.sched.Due(ctx, now, 2*e.cfg.LockTTL, 256)
		if err != nil {
			return fmt.Errorf("due timers: %w", err)
		}
		for _, key := range keys {
			kind, id, _ := strings.Cut(key, ":")
			switch kind {
			case "ride":
				_, err = e.mutateRide(ctx, id, func(r *Ride, ob *outbox) error {
					return e.advance(ctx, r, ob)
				})
			case "driver":
				err = e.driverTimer(ctx, id)
			default:
				err = e.sched.Cancel(ctx, key)
			}
			if err != nil {
				if ErrorCode(err) == CodeNotFound {
					_ = e.sched.Cancel(ctx, key)
					continue
				}
				e.log.Warn("timer", "key", key, "err", err)
			}
		}
		if len(keys) < 256 {
			return nil
		}
	}
}

// errNoChange aborts a ride mutation without writing and without error.
var errNoChange = errors.New("no change")

// mutateRide runs fn on ride id under the per-ride lock and stores the
// result with a fenced compare-and-set. The outbox's events and timers are
// delivered only when the write succeeded; its abort hooks run otherwise.
func (e *Engine) mutateRide(ctx context.Context, id string, fn func(r *Ride, ob *outbox) error) (*Ride, error) {
	lctx, cancel := context.WithTimeout(ctx, e.cfg.LockWait)
	lk, err := e.locker.Obtain(lctx, "ride:"+id, e.cfg.LockTTL)
	cancel()
	if err != nil {
		return nil, &Error{Code: CodeUnavailable, Message: "ride is busy, retry"}
	}
	defer func() { _ = lk.Release(context.WithoutCancel(ctx)) }()
	r, err := e.rides.Ride(ctx, id)
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return nil, Errorf(CodeNotFound, "ride %q not found", id)
		}
		return nil, fmt.Errorf("load ride: %w", err)
	}
	ob := &outbox{}
	if err := fn(r, ob); err != nil {
		ob.abort(ctx)
		if errors.Is(err, errNoChange) {
			ob.deliver(ctx, e)
			return r, nil
		}
		return nil, err
	}
	r.UpdatedAt = e.clock.Now().UnixMilli()
	if err := e.rides.UpdateRide(ctx, r); err != nil {
		ob.abort(ctx)
		if errors.Is(err, ErrConflict) {
			e.stats.fenced.Add(1)
			return nil, &Error{Code: CodeConflict, Message: "ride changed concurrently"}
		}
		return nil, fmt.Errorf("store ride: %w", err)
	}
	ob.deliver(ctx, e)
	return r, nil
}

// updateDriver applies fn to driver id with a compare-and-set, retrying on
// conflict. create makes a missing record (offline, disconnected) first.
// fn returns errNoChange to skip the write.
func (e *Engine) updateDriver(ctx context.Context, id string, create bool, fn func(d *Driver) error) (*Driver, error) {
	for attempt := 0; attempt < 50; attempt++ {
		d, err := e.drivers.Driver(ctx, id)
		if errors.Is(err, ErrNotFound) && create {
			d, err = &Driver{ID: id, Status: DriverOffline}, nil
		}
		if err != nil {
			if errors.Is(err, ErrNotFound) {
				return nil, Errorf(CodeNotFound, "driver %q not found", id)
			}
			return nil, fmt.Errorf("load driver: %w", err)
		}
		before := d.Status
		if err := fn(d); err != nil {
			if errors.Is(err, errNoChange) {
				return d, nil
			}
			return d, err
		}
		d.UpdatedAt = e.clock.Now().UnixMilli()
		err = e.drivers.UpdateDriver(ctx, d)
		if errors.Is(err, ErrConflict) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("store driver: %w", err)
		}
		if before != d.Status {
			if err := e.loc.SetAvailable(ctx, id, d.Status == DriverAvailable); err != nil {
				e.log.Warn("set available", "driver", id, "err", err)
			}
			e.tracks.invalidate(id)
		}
		return d, nil
	}
	return nil, &Error{Code: CodeUnavailable, Message: "driver record contended, retry"}
}

// outbox collects a ride mutation's side effects: events and timers to
// deliver after the write, and compensations to run if it fails.
type outbox struct {
	events  []outEvent
	timers  []outTimer
	aborts  []func(context.Context)
	aborted bool
}

type outEvent struct {
	driverID, rideID string
	ev               Event
}

type outTimer struct {
	key    string
	at     time.Time
	cancel bool
}

func (o *outbox) toDriver(id string, ev Event) {
	o.events = append(o.events, outEvent{driverID: id, ev: ev})
}
func (o *outbox) toRide(id string, ev Event) {
	o.events = append(o.events, outEvent{rideID: id, ev: ev})
}
func (o *outbox) schedule(key string, at time.Time) {
	o.timers = append(o.timers, outTimer{key: key, at: at})
}
func (o *outbox) cancelTimer(key string) {
	o.timers = append(o.timers, outTimer{key: key, cancel: true})
}
func (o *outbox) onAbort(f func(context.Context)) { o.aborts = append(o.aborts, f) }

func (o *outbox) abort(ctx context.Context) {
	if o.aborted {
		return
	}
	o.aborted = true
	for i := len(o.aborts) - 1; i >= 0; i-- {
		o.aborts[i](ctx)
	}
}

func (o *outbox) deliver(ctx context.Context, e *Engine) {
	for _, t := range o.timers {
		var err error
		if t.cancel {
			err = e.sched.Cancel(ctx, t.key)
		} else {
			err = e.sched.Schedule(ctx, t.key, t.at)
		}
		if err != nil {
			e.log.Error("timer", "key", t.key, "err", err)
		}
	}
	for _, m := range o.events {
		if m.driverID != "" {
			e.notify.NotifyDriver(ctx, m.driverID, m.ev)
		} else {
			e.notify.NotifyRide(ctx, m.rideID, m.ev)
		}
	}
}

// counters are the engine's monotonic statistics.
type counters struct {
	ridesRequested, ridesAssigned, ridesNoDriver, ridesCancelled, ridesCompleted atomic.Int64
	offersSent, offersAccepted, offersDeclined, offersExpired, acceptsLost       atomic.Int64
	fixesAccepted, fixesRejected, fenced, rematched                              atomic.Int64
}

// Stats is a snapshot of the engine's counters.
type Stats struct {
	RidesRequested, RidesAssigned, RidesNoDriver, RidesCancelled, RidesCompleted int64
	OffersSent, OffersAccepted, OffersDeclined, OffersExpired, AcceptsLost       int64
	FixesAccepted, FixesRejected, FencedWrites, Rematched                        int64
}

// Stats returns the engine's counters.
func (e *Engine) Stats() Stats {
	c := &e.stats
	return Stats{
		RidesRequested: c.ridesRequested.Load(), RidesAssigned: c.ridesAssigned.Load(),
		RidesNoDriver: c.ridesNoDriver.Load(), RidesCancelled: c.ridesCancelled.Load(),
		RidesCompleted: c.ridesCompleted.Load(), OffersSent: c.offersSent.Load(),
		OffersAccepted: c.offersAccepted.Load(), OffersDeclined: c.offersDeclined.Load(),
		OffersExpired: c.offersExpired.Load(), AcceptsLost: c.acceptsLost.Load(),
		FixesAccepted: c.fixesAccepted.Load(), FixesRejected: c.fixesRejected.Load(),
		FencedWrites: c.fenced.Load(), Rematched: c.rematched.Load(),
	}
}
