package realtime

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/ridehail/dispatch/dispatch"
)

// conn is one client socket. An idle connection costs one goroutine, its
// reader (readLoop), which only waits for frames and keeps a minimal
// stack: the frames are read and handled on a worker (see workers) while
// the reader waits, and own the fields marked "reader only". Everything
// written — data frames, pings, the answers to the peer's pings, the close
// frame — is written by a writer goroutine that exists only while there
// is something to write: enqueue (or ping, or closeWith) starts it and it
// ends when there is nothing left. At most one writer runs at a time.
// gorilla itself may write a close frame from the reader when a frame is
// too big, which it allows.
type conn struct {
	hub    *Hub
	ws     *websocket.Conn
	role   string // "driver" or "rider"
	id     string // the identity's id
	rideID string // riders: the ride followed
	latest bool   // coalesce driver_location (riders)
	slot   uint8  // which of the hub's ping ticks pings this connection

	mu      sync.Mutex // guards q … idle; see doc.go for the lock order
	q       outQueue
	closing bool
	code    int
	reason  string
	held    bool // no writer may start yet (until release)
	writing bool // a writer goroutine is running
	pingDue bool // the writer must send a ping
	pongDue bool // the writer must answer the peer's ping with pongMsg
	pongMsg string
	closed  bool          // the close frame is out or the socket failed: no more writes
	idle    chan struct{} // made by waitWriter, closed when the writer ends
	expiry  *time.Timer

	// riders: the followed ride's last seen version<<1 | 1 when it has a
	// driver (assigned, arrived, in_progress); 0 before any. See noteRide.
	rideState atomic.Int64

	// drivers, guarded by the hub's driver shard lock
	session   int64 // the engine's Driver.Session of this connection; 0 until DriverConnected returns
	newerSeen int64 // the newest session announced by another node meanwhile

	// reader only
	lim    frameLimiter
	excess int   // rate-limited frames in a row
	lastTS int64 // ts of the last fix accepted on this connection
}

func newConn(h *Hub, ws *websocket.Conn, role, id string, expires time.Time) *conn {
	c := &conn{
		// A copy of the id: the one parsed from the request shares (and
		// would keep alive) the whole request line, and the engine's maps
		// keep this one for the driver's lifetime.
		hub: h, ws: ws, role: role, id: strings.Clone(id),
		slot: uint8(h.slots.Add(1) % pingSlots),
		q:    newOutQueue(),
		held: true,
		lim:  newFrameLimiter(h.cfg.FrameBurst, h.clock()),
	}
	if !expires.IsZero() {
		d := max(expires.Sub(h.cfg.Now()), 0)
		c.expiry = time.AfterFunc(d, func() {
			if c.closeWith(CloseTokenExpired, "token expired") {
				h.stats.tokenExpired.Add(1)
			}
		})
	}
	return c
}

// kickLocked starts the writer when there is something to write and no
// writer runs. c.mu is held.
func (c *conn) kickLocked() {
	if c.held || c.writing || c.closed {
		return
	}
	if c.q.len() == 0 && !c.pingDue && !c.pongDue && !c.closing {
		return
	}
	c.writing = true
	go c.writeLoop()
}

// release lets the writer start: the first frame (welcome or snapshot) is
// queued.
func (c *conn) release() {
	c.mu.Lock()
	c.held = false
	c.kickLocked()
	c.mu.Unlock()
}

// ping asks the writer to send a ping.
func (c *conn) ping() {
	c.mu.Lock()
	if !c.closing {
		c.pingDue = true
		c.kickLocked()
	}
	c.mu.Unlock()
}

// answerPing is the ping handler: the writer answers with a pong. (The
// reader must not write: see readLoop.)
func (c *conn) answerPing(data string) error {
	c.mu.Lock()
	if !c.closing {
		c.pongDue, c.pongMsg = true, data
		c.kickLocked()
	}
	c.mu.Unlock()
	return nil
}

// enqueue queues m for the writer. It never blocks: when the queue is full
// the connection is closed as a slow consumer and its queue dropped.
func (c *conn) enqueue(m outMsg) {
	st := &c.hub.stats
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		st.dropped.Add(1)
		return
	}
	if c.q.len() >= c.hub.cfg.QueueSize && !(m.latest && c.q.last >= 0) {
		n := c.q.len()
		c.q.reset()
		c.closing, c.code, c.reason = true, CloseSlowConsumer, "slow consumer"
		c.kickLocked()
		c.mu.Unlock()
		st.slowConsumers.Add(1)
		st.dropped.Add(uint64(n) + 1)
		c.hub.log.Info("slow consumer", "role", c.role, "id", c.id)
		return
	}
	coalesced := c.q.push(m)
	c.kickLocked()
	c.mu.Unlock()
	if coalesced {
		st.coalesced.Add(1)
	}
}

// enqueueFront queues m before everything queued (the welcome or the
// snapshot, pushed before release).
func (c *conn) enqueueFront(m outMsg) {
	c.mu.Lock()
	if !c.closing {
		c.q.pushFront(m)
		c.kickLocked()
	}
	c.mu.Unlock()
}

// send marshals v and queues it.
func (c *conn) send(v any) {
	data, err := json.Marshal(v)
	if err != nil {
		c.hub.log.Error("marshal reply", "err", err)
		return
	}
	c.enqueue(outMsg{data: data})
}

// sendError queues an error frame.
func (c *conn) sendError(code, msg, ref string) {
	c.send(ErrorMessage{Type: TypeError, Code: code, Message: msg, Ref: ref})
}

// closeWith starts closing the connection with code and reason: the writer
// flushes the queue, sends the close frame and gives the peer CloseGrace
// to answer. Only the first call counts; it reports whether it was first.
func (c *conn) closeWith(code int, reason string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closing {
		return false
	}
	c.closing, c.code, c.reason = true, code, reason
	c.kickLocked()
	return true
}

// abort drops the socket at once.
func (c *conn) abort() {
	c.closeWith(CloseGoingAway, "server shutting down")
	_ = c.ws.Close()
}

// extendReadDeadline pushes the read deadline PongWait ahead unless the
// connection is closing (then the writer has set the CloseGrace deadline,
// which must stand). It holds mu so that the two never interleave.
func (c *conn) extendReadDeadline() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closing {
		return false
	}
	_ = c.ws.SetReadDeadline(time.Now().Add(c.hub.cfg.PongWait))
	return true
}

// writeLoop is the writer goroutine: it writes until there is nothing
// left, then ends (after the close frame, for good).
func (c *conn) writeLoop() {
	cfg := &c.hub.cfg
	for {
		c.mu.Lock()
		if c.pongDue && !c.closing {
			data := c.pongMsg
			c.pongDue, c.pongMsg = false, ""
			c.mu.Unlock()
			if err := c.ws.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(cfg.WriteWait)); err != nil {
				c.writeFailed(err)
				c.writerExit()
				return
			}
			continue
		}
		m, ok := c.q.pop()
		if !ok {
			switch {
			case c.pingDue:
				c.pingDue = false
				c.mu.Unlock()
				if err := c.ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(cfg.WriteWait)); err != nil {
					c.writeFailed(err)
					c.writerExit()
					return
				}
				continue
			case c.closing:
				code, reason := c.code, c.reason
				c.closed = true
				c.mu.Unlock()
				if code != 0 && code != websocket.CloseAbnormalClosure {
					_ = c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason), time.Now().Add(cfg.WriteWait))
				}
				// The reader stopped extending the deadline when closing was
				// set (it checks under mu), so this one stands.
				_ = c.ws.SetReadDeadline(time.Now().Add(cfg.CloseGrace))
				c.writerExit()
				return
			}
			c.writing = false
			c.wakeWaiterLocked()
			c.mu.Unlock()
			return
		}
		c.mu.Unlock()
		_ = c.ws.SetWriteDeadline(time.Now().Add(cfg.WriteWait))
		if err := c.ws.WriteMessage(websocket.TextMessage, m.data); err != nil {
			c.writeFailed(err)
			c.writerExit()
			return
		}
		c.hub.stats.out.Add(1)
	}
}

// writerExit ends the writer for good and wakes waitWriter.
func (c *conn) writerExit() {
	c.mu.Lock()
	c.closed, c.writing = true, false
	c.wakeWaiterLocked()
	c.mu.Unlock()
}

// wakeWaiterLocked wakes waitWriter once the writer has stopped. c.mu is
// held.
func (c *conn) wakeWaiterLocked() {
	if c.idle != nil {
		close(c.idle)
		c.idle = nil
	}
}

// waitWriter waits until no writer runs.
func (c *conn) waitWriter() {
	c.mu.Lock()
	for c.writing {
		if c.idle == nil {
			c.idle = make(chan struct{})
		}
		ch := c.idle
		c.mu.Unlock()
		<-ch
		c.mu.Lock()
	}
	c.mu.Unlock()
}

// writeFailed ends a connection whose socket can no longer be written.
func (c *conn) writeFailed(err error) {
	if errors.Is(err, websocket.ErrCloseSent) {
		return // a close frame is out; the reader finishes the handshake
	}
	c.closeWith(websocket.CloseAbnormalClosure, "")
	_ = c.ws.Close()
}

// readLoop reads frames until the socket fails or closes, and calls handle
// with each data frame received while the connection is not closing (after
// that, frames are read and discarded until the peer answers the close).
// data is only valid during the call.
//
// Only the wait for the next frame runs on the calling goroutine: reading
// the frame's payload and handle run on a worker (see workers) while
// readLoop waits for them. So does everything else that could grow the
// reader's stack: the goroutine of every idle connection keeps a minimal
// stack (2 KB), which the runtime would otherwise grow for good.
func (c *conn) readLoop(handle func(messageType int, data []byte)) error {
	c.startReading()
	for {
		mt, r, err := c.ws.NextReader()
		if err != nil {
			return err
		}
		if err := c.frame(handle, mt, r); err != nil {
			return err
		}
	}
}

// startReading sets the read limit, the first deadline and the pong
// handler.
//
//go:noinline
func (c *conn) startReading() {
	c.ws.SetReadLimit(c.hub.cfg.ReadLimit)
	c.extendReadDeadline()
	c.ws.SetPongHandler(func(string) error {
		c.extendReadDeadline()
		return nil
	})
	c.ws.SetPingHandler(c.answerPing)
}

// frame has a worker read the frame r and handle it, and waits for it.
//
//go:noinline
func (c *conn) frame(handle func(messageType int, data []byte), mt int, r io.Reader) error {
	if !c.extendReadDeadline() {
		return nil // closing: NextReader discards the unread frame
	}
	return c.hub.work.do(c, handle, mt, r)
}

// readFrame reads the frame r and handles it (on a worker).
func (c *conn) readFrame(handle func(messageType int, data []byte), mt int, r io.Reader) error {
	buf := c.hub.frames.Get().(*bytes.Buffer)
	buf.Reset()
	if _, err := buf.ReadFrom(r); err != nil {
		c.hub.frames.Put(buf)
		return err
	}
	c.hub.stats.in.Add(1)
	handle(mt, buf.Bytes())
	if buf.Cap() <= 64<<10 {
		c.hub.frames.Put(buf)
	}
	return nil
}

// allowFrame charges one frame to the rate limiter. An excess frame is
// counted and, once FloodLimit of them come in a row, closes the
// connection with ClosePolicyViolation.
func (c *conn) allowFrame() bool {
	if c.lim.allow(c.hub.clock(), float64(c.hub.cfg.FrameRate), c.hub.cfg.FrameBurst) {
		c.excess = 0
		return true
	}
	c.excess++
	c.hub.stats.rateLimited.Add(1)
	if c.excess >= c.hub.cfg.FloodLimit && c.closeWith(ClosePolicyViolation, "flood: too many messages") {
		c.hub.stats.floods.Add(1)
		c.hub.log.Info("flood", "role", c.role, "id", c.id)
	}
	return false
}

// finish ends the connection after readLoop returned readErr and waits for
// the writer. It closes the socket.
func (c *conn) finish(readErr error) {
	if c.expiry != nil {
		c.expiry.Stop()
	}
	tooBig := errors.Is(readErr, websocket.ErrReadLimit)
	if tooBig {
		// gorilla has sent the 1009 close frame already.
		c.hub.stats.tooBig.Add(1)
		c.closeWith(CloseTooBig, "message too big")
	} else if c.closeWith(websocket.CloseAbnormalClosure, "") {
		// The peer closed or vanished first: nothing more can be sent.
		_ = c.ws.Close()
	}
	c.release() // in case the connection ended before its first frame
	c.waitWriter()
	if tooBig {
		c.linger()
	}
	_ = c.ws.Close()
}

// linger half-closes the socket and discards what the peer still sends for
// up to CloseGrace, so that closing does not reset the connection (which
// could destroy the close frame before the peer reads it).
func (c *conn) linger() {
	nc := c.ws.NetConn()
	if cw, ok := nc.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
	_ = nc.SetReadDeadline(time.Now().Add(c.hub.cfg.CloseGrace))
	buf := make([]byte, 512)
	for {
		if _, err := nc.Read(buf); err != nil {
			return
		}
	}
}

// callContext is the context of one Dispatcher call.
func (c *conn) callContext() (context.Context, context.CancelFunc) {
	return context.WithTimeout(c.hub.base, c.hub.cfg.CallTimeout)
}

// sharedContext is a call context that many calls share.
type sharedContext struct {
	ctx    context.Context
	cancel context.CancelFunc // called by the timer at the deadline, or by Shutdown
	until  time.Duration      // hub clock after which a fresh one is made
}

// ingestRefresh is how long one shared ingest context is handed out.
const ingestRefresh = time.Second

// ingestContext returns the context of location calls: one shared by
// every connection and renewed every second, whose deadline lies between
// CallTimeout and CallTimeout + 1 s after any call that gets it. A context
// per frame (a timer and three allocations) cost more than decoding the
// frame.
func (h *Hub) ingestContext() context.Context {
	now := h.clock()
	if s := h.ingest.Load(); s != nil && now < s.until {
		return s.ctx
	}
	h.ingestMu.Lock()
	defer h.ingestMu.Unlock()
	if s := h.ingest.Load(); s != nil && now < s.until {
		return s.ctx
	}
	ctx, cancel := context.WithTimeout(h.base, h.cfg.CallTimeout+ingestRefresh)
	h.ingest.Store(&sharedContext{ctx: ctx, cancel: cancel, until: now + ingestRefresh})
	return ctx
}

// noteRide records the state of the followed ride a rider connection was
// sent, unless it already saw a newer version.
func (c *conn) noteRide(version int64, hasDriver bool) {
	v := version << 1
	if hasDriver {
		v |= 1
	}
	for {
		old := c.rideState.Load()
		if old>>1 > version || c.rideState.CompareAndSwap(old, v) {
			return
		}
	}
}

// rideHasDriver says whether driver_location may be sent: the ride last
// seen has a driver, or no ride state was seen yet.
func (c *conn) rideHasDriver() bool {
	s := c.rideState.Load()
	return s == 0 || s&1 == 1
}

// rideHasDriverStatus reports whether a ride in status st has a driver
// whose position the rider follows.
func rideHasDriverStatus(st dispatch.RideStatus) bool {
	return st == dispatch.RideAssigned || st == dispatch.RideArrived || st == dispatch.RideInProgress
}
