package realtime

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// Message is one frame received by a Client.
type Message struct {
	// Type is the frame's "type" field ("" when it has none).
	Type string
	// Raw is the whole frame.
	Raw json.RawMessage
}

// Decode unmarshals the frame into v.
func (m Message) Decode(v any) error { return json.Unmarshal(m.Raw, v) }

// DialError is returned when the server refuses the WebSocket handshake.
type DialError struct {
	// StatusCode is the HTTP status of the refusal (401, 403, 404, …).
	StatusCode int
	// Code and Message come from the JSON error body, when there is one.
	Code, Message string
}

func (e *DialError) Error() string {
	return fmt.Sprintf("realtime: handshake refused: %d %s: %s", e.StatusCode, e.Code, e.Message)
}

// Client is a WebSocket client of the driver and rider endpoints, for the
// simulator and end-to-end tests. One goroutine reads frames into
// Messages and answers pings; Send may be called from any goroutine.
// A consumer that stops reading Messages stops the reads, which the server
// eventually treats as a slow consumer, as it would a real phone.
type Client struct {
	ws   *websocket.Conn
	msgs chan Message
	done chan struct{} // closed by Close
	read chan struct{} // closed when the reader goroutine has returned

	wmu       sync.Mutex // serialises writes
	closeOnce sync.Once
	errMu     sync.Mutex
	err       error
}

// clientBuffer is the capacity of Messages.
const clientBuffer = 256

// DialDriver connects to baseURL's driver endpoint (/v1/driver/ws).
// baseURL is http(s):// or ws(s)://host[:port]. token, when set, goes in
// the Authorization header; driverID, when set, in the driver_id query
// parameter (the open development mode's identity).
func DialDriver(ctx context.Context, baseURL, driverID, token string) (*Client, error) {
	q := url.Values{}
	if driverID != "" {
		q.Set("driver_id", driverID)
	}
	return dialEndpoint(ctx, websocket.DefaultDialer, baseURL, "/v1/driver/ws", q, token)
}

// DialRider connects to baseURL's rider endpoint (/v1/rider/ws) to follow
// ride rideID; riderID and token are used like DialDriver's.
func DialRider(ctx context.Context, baseURL, rideID, riderID, token string) (*Client, error) {
	q := url.Values{"ride_id": {rideID}}
	if riderID != "" {
		q.Set("rider_id", riderID)
	}
	return dialEndpoint(ctx, websocket.DefaultDialer, baseURL, "/v1/rider/ws", q, token)
}

func dialEndpoint(ctx context.Context, d *websocket.Dialer, baseURL, path string, q url.Values, token string) (*Client, error) {
	u, err := url.Parse(strings.TrimSuffix(baseURL, "/"))
	if err != nil {
		return nil, fmt.Errorf("realtime: base URL: %w", err)
	}
	switch u.Scheme {
	case "http", "ws":
		u.Scheme = "ws"
	case "https", "wss":
		u.Scheme = "wss"
	default:
		return nil, fmt.Errorf("realtime: base URL %q: scheme must be http, https, ws or wss", baseURL)
	}
	u.Path += path
	u.RawQuery = q.Encode()
	h := http.Header{}
	if token != "" {
		h.Set("Authorization", "Bearer "+token)
	}
	return dial(ctx, d, u.String(), h)
}

// dial opens a Client on wsURL with dialer d.
func dial(ctx context.Context, d *websocket.Dialer, wsURL string, h http.Header) (*Client, error) {
	ws, resp, err := d.DialContext(ctx, wsURL, h)
	if err != nil {
		if resp != nil && errors.Is(err, websocket.ErrBadHandshake) {
			return nil, dialError(resp)
		}
		return nil, fmt.Errorf("realtime: dial: %w", err)
	}
	c := &Client{
		ws:   ws,
		msgs: make(chan Message, clientBuffer),
		done: make(chan struct{}),
		read: make(chan struct{}),
	}
	go c.readLoop()
	return c, nil
}

func dialError(resp *http.Response) error {
	defer resp.Body.Close()
	e := &DialError{StatusCode: resp.StatusCode}
	var body struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if json.Unmarshal(b, &body) == nil {
		e.Code, e.Message = body.Error.Code, body.Error.Message
	} else {
		e.Message = strings.TrimSpace(string(b))
	}
	return e
}

func (c *Client) readLoop() {
	defer close(c.read)
	defer close(c.msgs)
	// The connection is over (gorilla has answered a close frame): free
	// the socket now rather than at Close.
	defer c.ws.Close()
	for {
		_, data, err := c.ws.ReadMessage()
		if err != nil {
			c.setErr(err)
			return
		}
		select {
		case c.msgs <- Message{Type: messageType(data), Raw: data}:
		case <-c.done:
			c.setErr(net.ErrClosed)
			return
		}
	}
}

func (c *Client) setErr(err error) {
	c.errMu.Lock()
	if c.err == nil {
		c.err = err
	}
	c.errMu.Unlock()
}

// Messages returns the frames received, in order. It is closed when the
// connection ends; Err then says why.
func (c *Client) Messages() <-chan Message { return c.msgs }

// Done is closed when the connection has ended and Messages is closed.
func (c *Client) Done() <-chan struct{} { return c.read }

// Err returns why the connection ended (nil while it is open). A close
// frame from the server is a *websocket.CloseError; CloseCode extracts its
// code.
func (c *Client) Err() error {
	c.errMu.Lock()
	defer c.errMu.Unlock()
	return c.err
}

// Send writes v as one JSON text frame. It is safe for concurrent use.
// The write is bounded by ctx's deadline, or 10 s.
func (c *Client) Send(ctx context.Context, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("realtime: send: %w", err)
	}
	return c.SendRaw(ctx, data)
}

// SendRaw writes data as one text frame, unchecked (tests use it to send
// malformed frames).
func (c *Client) SendRaw(ctx context.Context, data []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(10 * time.Second)
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.ws.SetWriteDeadline(deadline)
	if err := c.ws.WriteMessage(websocket.TextMessage, data); err != nil {
		return fmt.Errorf("realtime: send: %w", err)
	}
	return nil
}

// Close sends a normal close frame, waits up to a second for the server's
// answer, closes the socket and waits for the reader goroutine. Messages
// not yet consumed are discarded. It is idempotent.
func (c *Client) Close() error {
	c.closeOnce.Do(func() {
		close(c.done)
		c.wmu.Lock()
		_ = c.ws.WriteControl(websocket.CloseMessage,
			websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
		c.wmu.Unlock()
		_ = c.ws.SetReadDeadline(time.Now().Add(time.Second))
		<-c.read
		_ = c.ws.Close()
	})
	return nil
}

// messageType returns a frame's "type". The server writes it first, so the
// common case is read without parsing the whole frame.
func messageType(data []byte) string {
	const prefix = `{"type":"`
	if bytes.HasPrefix(data, []byte(prefix)) {
		rest := data[len(prefix):]
		if i := bytes.IndexByte(rest, '"'); i >= 0 && bytes.IndexByte(rest[:i], '\\') < 0 {
			return string(rest[:i])
		}
	}
	var head struct {
		Type string `json:"type"`
	}
	_ = json.Unmarshal(data, &head) // a frame without a type still reaches the consumer
	return head.Type
}
