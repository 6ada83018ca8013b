package realtime

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/ridehail/dispatch/dispatch"
)

// ErrHubClosed is returned by Open after Shutdown.
var ErrHubClosed = errors.New("realtime: hub is shut down")

const numShards = 64

// readBufferSize is each connection's read buffer, in bytes.
const readBufferSize = 256

type hubState int

const (
	stateNew hubState = iota
	stateOpen
	stateClosing
)

// Hub tracks the live driver and rider connections and delivers engine
// events to them. It implements dispatch.Notifier: NotifyDriver and
// NotifyRide marshal the event once, publish it through the Broker, and
// every node's Hub enqueues it to its matching sockets without blocking.
//
// Lifecycle: NewHub starts nothing; Open subscribes to the Broker; the
// handlers then accept connections; Shutdown closes every socket with
// CloseGoingAway and waits for every connection goroutine.
type Hub struct {
	cfg HubConfig
	log *slog.Logger

	drivers [numShards]driverShard
	rides   [numShards]rideShard

	mu      sync.Mutex // guards state, stopSub and the conns.Add in acquire
	state   hubState
	stopSub func()
	closing atomic.Bool
	conns   sync.WaitGroup // one per connection handler past acquire
	drained chan struct{}  // closed once every connection ended after Shutdown
	once    sync.Once      // starts the drain

	// base is the parent context of Dispatcher calls; cancelled when
	// Shutdown gives up waiting.
	base       context.Context
	cancelBase context.CancelFunc

	upgrader websocket.Upgrader
	work     *workers  // run the frame handlers
	frames   sync.Pool // *bytes.Buffer for inbound frames
	points   sync.Pool // *[]dispatch.Fix for decoded batches
	writeBuf sync.Pool // gorilla write buffers, shared by all sockets

	liveMu sync.Mutex
	live   map[*conn]struct{} // every connection between track and untrack
	quiet  chan struct{}      // closed when the last connection is gone (stops the pinger, the workers); nil while none is live
	slots  atomic.Uint32      // assigns connections to ping ticks

	epoch    time.Time // origin of clock
	ingestMu sync.Mutex
	ingest   atomic.Pointer[sharedContext] // see ingestContext
	stats    hubStats
}

type driverShard struct {
	mu       sync.RWMutex
	m        map[string]*conn        // driver id -> its one registered connection
	sessions map[string]*sessionLock // driver id -> its session lock, while in use
}

// sessionLock serialises the session changes of one driver on this node.
type sessionLock struct {
	mu   sync.Mutex
	refs int // holders and waiters; guarded by the shard's mu
}

type rideShard struct {
	mu sync.RWMutex
	m  map[string]map[*conn]struct{} // ride id -> rider connections following it
}

var _ dispatch.Notifier = (*Hub)(nil)

// NewHub returns a Hub configured by cfg (zero fields get defaults). It
// starts no goroutine.
func NewHub(cfg HubConfig) *Hub {
	cfg = cfg.withDefaults()
	h := &Hub{cfg: cfg, log: cfg.Logger, drained: make(chan struct{}), live: make(map[*conn]struct{}), epoch: time.Now()}
	h.base, h.cancelBase = context.WithCancel(context.Background())
	h.work = newWorkers(workerIdle)
	h.frames.New = func() any { return new(bytes.Buffer) }
	h.points.New = func() any { return new([]dispatch.Fix) }
	h.upgrader = websocket.Upgrader{
		// Every connection keeps its read buffer for life: a small one
		// holds a whole location frame (about 100 bytes, 200 with every
		// optional field); larger frames are read past it, straight into
		// the frame buffer. Write buffers come from a pool shared by all
		// connections and are held only during a write.
		ReadBufferSize:  readBufferSize,
		WriteBufferSize: 1024,
		WriteBufferPool: &h.writeBuf,
		// The handlers check the origin before upgrading.
		CheckOrigin: func(*http.Request) bool { return true },
		Error: func(w http.ResponseWriter, _ *http.Request, status int, reason error) {
			code := dispatch.CodeInvalid
			if status >= 500 {
				code = dispatch.CodeInternal
			}
			writeHTTPError(w, code, reason.Error())
		},
	}
	for i := range h.drivers {
		h.drivers[i].m = make(map[string]*conn)
		h.drivers[i].sessions = make(map[string]*sessionLock)
		h.rides[i].m = make(map[string]map[*conn]struct{})
	}
	return h
}

// Open subscribes the hub to its Broker. Connections are accepted only
// after Open. It returns ErrHubClosed after Shutdown and nil when already
// open.
func (h *Hub) Open(ctx context.Context) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	switch h.state {
	case stateOpen:
		return nil
	case stateClosing:
		return ErrHubClosed
	}
	stop, err := h.cfg.Broker.Subscribe(ctx, h.deliver)
	if err != nil {
		return fmt.Errorf("realtime: subscribe: %w", err)
	}
	h.stopSub, h.state = stop, stateOpen
	return nil
}

// Run opens the hub, waits for ctx to end, then shuts down, waiting at most
// ShutdownTimeout.
func (h *Hub) Run(ctx context.Context) error {
	if err := h.Open(ctx); err != nil {
		return err
	}
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), h.cfg.ShutdownTimeout)
	defer cancel()
	return h.Shutdown(sctx)
}

// Shutdown stops accepting connections, closes every socket with
// CloseGoingAway (after flushing what is queued) and waits until every
// connection goroutine has returned and the Broker subscription is gone.
// When ctx ends first it drops the remaining sockets at once, cancels
// in-flight Dispatcher calls, waits for the goroutines to notice, and
// returns ctx.Err(). It is idempotent and safe to call concurrently.
func (h *Hub) Shutdown(ctx context.Context) error {
	h.once.Do(func() {
		h.mu.Lock()
		h.state = stateClosing
		h.closing.Store(true)
		stop := h.stopSub
		h.mu.Unlock()
		h.forEachConn(func(c *conn) { c.closeWith(CloseGoingAway, "server shutting down") })
		go func() {
			h.conns.Wait()
			if stop != nil {
				stop()
			}
			h.cancelBase()
			close(h.drained)
		}()
	})
	select {
	case <-h.drained:
		return nil
	case <-ctx.Done():
	}
	h.cancelBase()
	h.forEachConn(func(c *conn) { c.abort() })
	<-h.drained
	return ctx.Err()
}

// acquire admits a new connection; the caller must call release when the
// connection has ended.
func (h *Hub) acquire() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.state != stateOpen {
		return false
	}
	h.conns.Add(1)
	return true
}

func (h *Hub) release() { h.conns.Done() }

// clock returns the monotonic time since the hub was made.
func (h *Hub) clock() time.Duration { return time.Since(h.epoch) }

// NotifyDriver sends ev to driver driverID's connection, on whichever node
// it is. It never blocks on a client.
func (h *Hub) NotifyDriver(ctx context.Context, driverID string, ev dispatch.Event) {
	h.notify(ctx, KindDriver, driverID, ev)
}

// NotifyRide sends ev to every rider connection following ride rideID. It
// never blocks on a client.
func (h *Hub) NotifyRide(ctx context.Context, rideID string, ev dispatch.Event) {
	h.notify(ctx, KindRide, rideID, ev)
}

func (h *Hub) notify(ctx context.Context, kind, target string, ev dispatch.Event) {
	if ev == nil {
		return
	}
	data, err := json.Marshal(ev)
	if err != nil {
		h.stats.publishErrors.Add(1)
		h.log.Error("marshal event", "type", ev.EventType(), "err", err)
		return
	}
	h.publish(ctx, Envelope{Kind: kind, Target: target, Type: ev.EventType(), Payload: data})
}

func (h *Hub) publish(ctx context.Context, env Envelope) {
	if err := h.cfg.Broker.Publish(ctx, env); err != nil {
		h.stats.publishErrors.Add(1)
		h.log.Warn("publish", "kind", env.Kind, "target", env.Target, "err", err)
	}
}

// deliver is the Broker callback: it enqueues env to the local sockets it
// targets.
func (h *Hub) deliver(env Envelope) {
	switch env.Kind {
	case KindDriver:
		s := &h.drivers[shardOf(env.Target)]
		s.mu.RLock()
		c := s.m[env.Target]
		s.mu.RUnlock()
		if c != nil {
			c.enqueue(outMsg{data: env.Payload})
		}
	case KindRide:
		loc := env.Type == TypeDriverLocation
		m := outMsg{data: env.Payload, latest: loc}
		// A ride change says whether the ride has a driver: a position
		// arriving after the ride lost its driver (cancelled, ended,
		// back to matching) was published by a node that had not heard
		// yet, and is not the rider's business any more.
		var ride struct {
			Ride *struct {
				Status  dispatch.RideStatus `json:"status"`
				Version int64               `json:"version"`
			} `json:"ride"`
		}
		if env.Type == TypeRide {
			_ = json.Unmarshal(env.Payload, &ride)
		}
		s := &h.rides[shardOf(env.Target)]
		s.mu.RLock()
		for c := range s.m[env.Target] {
			if ride.Ride != nil {
				c.noteRide(ride.Ride.Version, rideHasDriverStatus(ride.Ride.Status))
			}
			if loc && !c.rideHasDriver() {
				continue
			}
			c.enqueue(m)
		}
		s.mu.RUnlock()
	case KindSession:
		h.onSession(env)
	}
}

// sessionNotice is the payload of a KindSession envelope: a driver
// connected on Node with the engine's session number Session. Session
// numbers, not clocks, order a driver's connections across nodes, so every
// node agrees with the engine on which one is current.
type sessionNotice struct {
	Node    string `json:"node"`
	Session int64  `json:"session"`
}

// onSession closes this node's connection of a driver whose newer session
// started elsewhere. A connection still waiting for its own session number
// remembers the notice, and announceSession settles it.
func (h *Hub) onSession(env Envelope) {
	var n sessionNotice
	if err := json.Unmarshal(env.Payload, &n); err != nil || n.Node == h.cfg.NodeID {
		return
	}
	s := &h.drivers[shardOf(env.Target)]
	s.mu.Lock()
	c := s.m[env.Target]
	switch {
	case c == nil:
	case c.session == 0:
		c.newerSeen = max(c.newerSeen, n.Session)
		c = nil
	case c.session < n.Session:
		delete(s.m, env.Target)
	default:
		c = nil
	}
	s.mu.Unlock()
	if c != nil {
		h.stats.replaced.Add(1)
		c.closeWith(CloseReplaced, "replaced by a newer connection")
	}
}

// registerDriver makes c the connection of its driver on this node,
// closing the one it replaces. Call it under the driver's session lock,
// before DriverConnected, so that local connections are registered in the
// order of their sessions.
func (h *Hub) registerDriver(c *conn) {
	s := &h.drivers[shardOf(c.id)]
	s.mu.Lock()
	old := s.m[c.id]
	s.m[c.id] = c
	s.mu.Unlock()
	if old != nil {
		h.stats.replaced.Add(1)
		old.closeWith(CloseReplaced, "replaced by a newer connection")
	}
}

// announceSession records the session number DriverConnected gave c and
// tells the other nodes, which close older connections of the driver. If
// a newer session was announced while c waited for its number, c is the
// one replaced: it is closed and announceSession reports false.
func (h *Hub) announceSession(c *conn, session int64) bool {
	s := &h.drivers[shardOf(c.id)]
	s.mu.Lock()
	replaced := session < c.newerSeen && s.m[c.id] == c
	if replaced {
		delete(s.m, c.id)
	} else {
		c.session = session
	}
	s.mu.Unlock()
	if replaced {
		h.stats.replaced.Add(1)
		c.closeWith(CloseReplaced, "replaced by a newer connection")
		return false
	}
	if payload, err := json.Marshal(sessionNotice{Node: h.cfg.NodeID, Session: session}); err == nil {
		h.publish(h.base, Envelope{Kind: KindSession, Target: c.id, Payload: payload})
	}
	return true
}

// lockSession takes driver id's session lock and returns its unlock. A
// connection holds it while it registers and calls DriverConnected, and
// while it unregisters and calls DriverDisconnected, so that a connection
// ending as another one of the same driver starts cannot report the
// driver gone after the new one reported it back.
func (h *Hub) lockSession(id string) (unlock func()) {
	s := &h.drivers[shardOf(id)]
	s.mu.Lock()
	l := s.sessions[id]
	if l == nil {
		l = &sessionLock{}
		s.sessions[id] = l
	}
	l.refs++
	s.mu.Unlock()
	l.mu.Lock()
	return func() {
		l.mu.Unlock()
		s.mu.Lock()
		if l.refs--; l.refs == 0 {
			delete(s.sessions, id)
		}
		s.mu.Unlock()
	}
}

// unregisterDriver removes c and reports whether it was still the
// driver's registered connection.
func (h *Hub) unregisterDriver(c *conn) bool {
	s := &h.drivers[shardOf(c.id)]
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m[c.id] != c {
		return false
	}
	delete(s.m, c.id)
	return true
}

func (h *Hub) subscribeRide(c *conn) {
	s := &h.rides[shardOf(c.rideID)]
	s.mu.Lock()
	set := s.m[c.rideID]
	if set == nil {
		set = make(map[*conn]struct{}, 1)
		s.m[c.rideID] = set
	}
	set[c] = struct{}{}
	s.mu.Unlock()
}

func (h *Hub) unsubscribeRide(c *conn) {
	s := &h.rides[shardOf(c.rideID)]
	s.mu.Lock()
	if set := s.m[c.rideID]; set != nil {
		delete(set, c)
		if len(set) == 0 {
			delete(s.m, c.rideID)
		}
	}
	s.mu.Unlock()
}

// track adds c to the live set, closing it at once when the hub is
// shutting down. Shutdown sets closing before it iterates the set, and
// track inserts before it checks, so every connection is closed by one or
// the other.
func (h *Hub) track(c *conn) {
	h.liveMu.Lock()
	h.live[c] = struct{}{}
	if h.quiet == nil {
		h.quiet = make(chan struct{})
		go h.pinger(h.quiet)
	}
	h.liveMu.Unlock()
	if h.closing.Load() {
		c.closeWith(CloseGoingAway, "server shutting down")
	}
}

func (h *Hub) untrack(c *conn) {
	h.liveMu.Lock()
	delete(h.live, c)
	if len(h.live) == 0 && h.quiet != nil {
		close(h.quiet)
		h.quiet = nil
	}
	h.liveMu.Unlock()
}

// pingSlots is the number of ticks a PingPeriod is split into: each tick
// pings the connections of one slot, so pings (and the writer goroutines
// they start) are spread over the period instead of coming all at once.
const pingSlots = 16

// pinger pings every live connection once per PingPeriod, one slot per
// tick, until stop is closed (when the last connection is gone). One
// hub-wide ticker replaces a timer per connection.
func (h *Hub) pinger(stop chan struct{}) {
	t := time.NewTicker(max(h.cfg.PingPeriod/pingSlots, time.Millisecond))
	defer t.Stop()
	var batch []*conn
	for tick := uint8(0); ; tick = (tick + 1) % pingSlots {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		batch = batch[:0]
		h.liveMu.Lock()
		for c := range h.live {
			if c.slot == tick {
				batch = append(batch, c)
			}
		}
		h.liveMu.Unlock()
		for _, c := range batch {
			c.ping()
		}
		clear(batch)
	}
}

// quietChan returns the channel closed when the last connection is gone.
func (h *Hub) quietChan() <-chan struct{} {
	h.liveMu.Lock()
	defer h.liveMu.Unlock()
	return h.quiet
}

func (h *Hub) forEachConn(fn func(*conn)) {
	h.liveMu.Lock()
	defer h.liveMu.Unlock()
	for c := range h.live {
		fn(c)
	}
}

// shardOf is FNV-1a of key modulo numShards.
func shardOf(key string) int {
	h := uint32(2166136261)
	for i := 0; i < len(key); i++ {
		h ^= uint32(key[i])
		h *= 16777619
	}
	return int(h % numShards)
}

func randomID() string {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return time.Now().Format("150405.000000000")
	}
	return hex.EncodeToString(b[:])
}
