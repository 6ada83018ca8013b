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
// owns the fields marked "reader only"; writeLoop, the one writer
// goroutine, is the only one to write data frames. Control frames (pong
// replies, the 1009 close) may also come from the reader, which gorilla
// allows.
type conn struct {
	hub    *Hub
	ws     *websocket.Conn
	role   string // "driver" or "rider"
	id     string // the identity's id
	rideID string // riders: the ride followed
	since  int64  // Unix ms the connection was set up
	latest bool   // coalesce driver_location (riders)

	mu      sync.Mutex // guards q, closing, code, reason; see doc.go for order
	q       outQueue
	closing bool
	code    int
	reason  string

	wake       chan struct{} // cap 1: the queue or the close state changed
	writerDone chan struct{}
	expiry     *time.Timer

	// reader only
	lim    *rate.Limiter
	excess int   // rate-limited frames in a row
	lastTS int64 // ts of the last fix accepted on this connection
}

func newConn(h *Hub, ws *websocket.Conn, role, id string, expires time.Time) *conn {
	c := &conn{
		hub: h, ws: ws, role: role, id: id,
		since:      h.cfg.Now().UnixMilli(),
		q:          newOutQueue(),
		wake:       make(chan struct{}, 1),
		writerDone: make(chan struct{}),
		lim:        rate.NewLimiter(h.cfg.FrameRate, h.cfg.FrameBurst),
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

// signal wakes the writer without blocking.
func (c *conn) signal() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
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
		c.mu.Unlock()
		st.slowConsumers.Add(1)
		st.dropped.Add(uint64(n) + 1)
		c.hub.log.Info("slow consumer", "role", c.role, "id", c.id)
		c.signal()
		return
	}
	coalesced := c.q.push(m)
	c.mu.Unlock()
	if coalesced {
		st.coalesced.Add(1)
	}
	c.signal()
}

// enqueueFront queues m before everything queued (the welcome or the
// snapshot, pushed before the writer starts).
func (c *conn) enqueueFront(m outMsg) {
	c.mu.Lock()
	if !c.closing {
		c.q.pushFront(m)
	}
	c.mu.Unlock()
	c.signal()
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
	if c.closing {
		c.mu.Unlock()
		return false
	}
	c.closing, c.code, c.reason = true, code, reason
	c.mu.Unlock()
	c.signal()
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

// writeLoop is the connection's writer goroutine.
func (c *conn) writeLoop() {
	defer close(c.writerDone)
	cfg := &c.hub.cfg
	ping := time.NewTicker(cfg.PingPeriod)
	defer ping.Stop()
	for {
		c.mu.Lock()
		m, ok := c.q.pop()
		closing, code, reason := c.closing, c.code, c.reason
		c.mu.Unlock()
		if ok {
			_ = c.ws.SetWriteDeadline(time.Now().Add(cfg.WriteWait))
			if err := c.ws.WriteMessage(websocket.TextMessage, m.data); err != nil {
				c.writeFailed(err)
				return
			}
			c.hub.stats.out.Add(1)
			continue
		}
		if closing {
			if code != 0 && code != websocket.CloseAbnormalClosure {
				_ = c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason), time.Now().Add(cfg.WriteWait))
			}
			// The reader stopped extending the deadline when closing was
			// set (it checks under mu), so this one stands.
			_ = c.ws.SetReadDeadline(time.Now().Add(cfg.CloseGrace))
			return
		}
		select {
		case <-c.wake:
		case <-ping.C:
			if err := c.ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(cfg.WriteWait)); err != nil {
				c.writeFailed(err)
				return
			}
		}
	}
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
	<-c.writerDone
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
