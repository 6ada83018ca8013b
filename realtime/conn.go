package realtime

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"golang.org/x/time/rate"
)

// conn is one client socket. The handler's goroutine reads (readLoop) and
// owns the fields marked "reader only". Data frames are written by a
// writer goroutine that exists only while there is something to write (a
// queued frame, a ping, the close frame): enqueue starts it, and it ends
// when the queue is empty, so an idle connection costs one goroutine, not
// two. At most one writer runs at a time. Control frames (pong replies,
// the 1009 close) may also come from the reader, which gorilla allows.
type conn struct {
	hub    *Hub
	ws     *websocket.Conn
	role   string // "driver" or "rider"
	id     string // the identity's id
	rideID string // riders: the ride followed
	since  int64  // Unix ms the connection was set up
	latest bool   // coalesce driver_location (riders)
	slot   uint8  // which of the hub's ping ticks pings this connection

	mu      sync.Mutex // guards the fields up to expiry; see doc.go for order
	q       outQueue
	closing bool
	code    int
	reason  string
	held    bool          // no writer may start yet (until release)
	writing bool          // a writer goroutine is running
	pingDue bool          // the writer must send a ping
	closed  bool          // the close frame is out or the socket failed: no more writes
	idle    chan struct{} // made by waitWriter, closed when the writer ends
	expiry  *time.Timer

	// reader only
	lim    *rate.Limiter
	excess int   // rate-limited frames in a row
	lastTS int64 // ts of the last fix accepted on this connection
}

func newConn(h *Hub, ws *websocket.Conn, role, id string, expires time.Time) *conn {
	c := &conn{
		hub: h, ws: ws, role: role, id: id,
		since: h.cfg.Now().UnixMilli(),
		slot:  uint8(h.slots.Add(1) % pingSlots),
		q:     newOutQueue(),
		held:  true,
		lim:   rate.NewLimiter(h.cfg.FrameRate, h.cfg.FrameBurst),
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
	if c.q.len() == 0 && !c.pingDue && !c.closing {
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
func (c *conn) readLoop(handle func(messageType int, data []byte)) error {
	c.ws.SetReadLimit(c.hub.cfg.ReadLimit)
	c.extendReadDeadline()
	c.ws.SetPongHandler(func(string) error {
		c.extendReadDeadline()
		return nil
	})
	for {
		mt, r, err := c.ws.NextReader()
		if err != nil {
			return err
		}
		if !c.extendReadDeadline() {
			continue // closing: NextReader discards the unread frame
		}
		buf := c.hub.frames.Get().(*bytes.Buffer)
		buf.Reset()
		_, err = buf.ReadFrom(r)
		if err != nil {
			c.hub.frames.Put(buf)
			return err
		}
		c.hub.stats.in.Add(1)
		handle(mt, buf.Bytes())
		if buf.Cap() <= 64<<10 {
			c.hub.frames.Put(buf)
		}
	}
}

// allowFrame charges one frame to the rate limiter. An excess frame is
// counted and, once FloodLimit of them come in a row, closes the
// connection with ClosePolicyViolation.
func (c *conn) allowFrame() bool {
	if c.lim.Allow() {
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
