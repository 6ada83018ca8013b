package realtime

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/ridehail/dispatch/dispatch"
	"github.com/ridehail/dispatch/internal/auth"
)

// waitTimeout bounds every poll in these tests. It is a deadline for
// something that must happen, not a measured duration.
const waitTimeout = 15 * time.Second

// checkFor polls fn until it returns nil or total elapses, then fails with
// fn's last error.
func checkFor(tb testing.TB, total time.Duration, fn func() error) {
	tb.Helper()
	deadline := time.Now().Add(total)
	for {
		err := fn()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("condition not met after %v: %v", total, err)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// call is one recorded Dispatcher call.
type call struct {
	Method string
	ID     string // driver id, or the actor's id
	Arg    string // offer or ride id, status
	Fix    dispatch.Fix
	Dist   float64
	Actor  dispatch.Actor
}

// fakeDispatcher records every call and answers with its function field
// when set, else a plausible default.
type fakeDispatcher struct {
	DriverConnectedFn func(ctx context.Context, id string) (*dispatch.DriverState, error)
	UpdateLocationFn  func(ctx context.Context, id string, f dispatch.Fix) error
	AcceptFn          func(ctx context.Context, id, offerID string) (*dispatch.Ride, error)
	DeclineFn         func(ctx context.Context, id, offerID string) error
	StepFn            func(ctx context.Context, method, id, rideID string) (*dispatch.Ride, error)
	GetRideFn         func(ctx context.Context, a dispatch.Actor, id string) (*dispatch.Ride, error)

	mu    sync.Mutex
	calls []call
}

var _ Dispatcher = (*fakeDispatcher)(nil)

func (f *fakeDispatcher) record(c call) {
	f.mu.Lock()
	f.calls = append(f.calls, c)
	f.mu.Unlock()
}

// callsOf returns the recorded calls of method.
func (f *fakeDispatcher) callsOf(method string) []call {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []call
	for _, c := range f.calls {
		if c.Method == method {
			out = append(out, c)
		}
	}
	return out
}

// waitCalls waits until method has been called n times and returns the
// calls.
func (f *fakeDispatcher) waitCalls(tb testing.TB, method string, n int) []call {
	tb.Helper()
	var got []call
	checkFor(tb, waitTimeout, func() error {
		got = f.callsOf(method)
		if len(got) < n {
			return fmt.Errorf("%s called %d times, want %d", method, len(got), n)
		}
		return nil
	})
	return got
}

func (f *fakeDispatcher) DriverConnected(ctx context.Context, id string) (*dispatch.DriverState, error) {
	f.record(call{Method: "DriverConnected", ID: id})
	if f.DriverConnectedFn != nil {
		return f.DriverConnectedFn(ctx, id)
	}
	return &dispatch.DriverState{Driver: &dispatch.Driver{ID: id, Status: dispatch.DriverAvailable, Connected: true}}, nil
}

func (f *fakeDispatcher) DriverDisconnected(_ context.Context, id string, _ int64) error {
	f.record(call{Method: "DriverDisconnected", ID: id})
	return nil
}

func (f *fakeDispatcher) UpdateLocation(ctx context.Context, id string, fix dispatch.Fix) error {
	f.record(call{Method: "UpdateLocation", ID: id, Fix: fix})
	if f.UpdateLocationFn != nil {
		return f.UpdateLocationFn(ctx, id, fix)
	}
	return nil
}

func (f *fakeDispatcher) SetDriverStatus(_ context.Context, id string, s dispatch.DriverStatus) (*dispatch.Driver, error) {
	f.record(call{Method: "SetDriverStatus", ID: id, Arg: string(s)})
	return &dispatch.Driver{ID: id, Status: s}, nil
}

func (f *fakeDispatcher) Accept(ctx context.Context, id, offerID string) (*dispatch.Ride, error) {
	f.record(call{Method: "Accept", ID: id, Arg: offerID})
	if f.AcceptFn != nil {
		return f.AcceptFn(ctx, id, offerID)
	}
	return &dispatch.Ride{ID: "r1", Status: dispatch.RideAssigned, DriverID: id}, nil
}

func (f *fakeDispatcher) Decline(ctx context.Context, id, offerID string) error {
	f.record(call{Method: "Decline", ID: id, Arg: offerID})
	if f.DeclineFn != nil {
		return f.DeclineFn(ctx, id, offerID)
	}
	return nil
}

func (f *fakeDispatcher) step(ctx context.Context, method, id, rideID string, status dispatch.RideStatus) (*dispatch.Ride, error) {
	if f.StepFn != nil {
		return f.StepFn(ctx, method, id, rideID)
	}
	return &dispatch.Ride{ID: rideID, Status: status, DriverID: id, RiderID: "u1", Version: 7}, nil
}

func (f *fakeDispatcher) Arrived(ctx context.Context, id, rideID string) (*dispatch.Ride, error) {
	f.record(call{Method: "Arrived", ID: id, Arg: rideID})
	return f.step(ctx, "Arrived", id, rideID, dispatch.RideArrived)
}

func (f *fakeDispatcher) Start(ctx context.Context, id, rideID string) (*dispatch.Ride, error) {
	f.record(call{Method: "Start", ID: id, Arg: rideID})
	return f.step(ctx, "Start", id, rideID, dispatch.RideInProgress)
}

func (f *fakeDispatcher) Complete(ctx context.Context, id, rideID string, dist float64) (*dispatch.Ride, error) {
	f.record(call{Method: "Complete", ID: id, Arg: rideID, Dist: dist})
	return f.step(ctx, "Complete", id, rideID, dispatch.RideCompleted)
}

func (f *fakeDispatcher) CancelRide(ctx context.Context, a dispatch.Actor, rideID string) (*dispatch.Ride, error) {
	f.record(call{Method: "CancelRide", ID: a.ID, Arg: rideID, Actor: a})
	return f.step(ctx, "CancelRide", a.ID, rideID, dispatch.RideMatching)
}

func (f *fakeDispatcher) GetRide(ctx context.Context, a dispatch.Actor, id string) (*dispatch.Ride, error) {
	f.record(call{Method: "GetRide", ID: a.ID, Arg: id, Actor: a})
	if f.GetRideFn != nil {
		return f.GetRideFn(ctx, a, id)
	}
	if a.Role != dispatch.RoleRider || a.ID != "u1" || id != "r1" {
		return nil, dispatch.Errorf(dispatch.CodeNotFound, "ride %q not found", id)
	}
	return &dispatch.Ride{ID: id, RiderID: a.ID, Status: dispatch.RideMatching, Version: 1}, nil
}

// fakeAuth is an Authenticator taking the identity from the driver_id or
// rider_id query parameter, with a fixed expiry.
type fakeAuth struct{ expires time.Time }

func (a fakeAuth) Identify(r *http.Request, want string) (auth.Identity, error) {
	id := r.URL.Query().Get(want + "_id")
	if id == "" {
		return auth.Identity{}, fmt.Errorf("%w: %s_id is required", auth.ErrUnauthenticated, want)
	}
	return auth.Identity{Role: want, ID: id, Expires: a.expires}, nil
}

// testServer is a Hub and both handlers behind an httptest server.
type testServer struct {
	hub *Hub
	d   *fakeDispatcher
	srv *httptest.Server
	url string
}

type serverOpts struct {
	hub     HubConfig
	handler HandlerConfig
	authn   Authenticator
	d       *fakeDispatcher
	// sndbuf, when set, shrinks the kernel send buffer of the first
	// accepted socket, so that this client stalls the writer soon when it
	// stops reading.
	sndbuf int
}

func newTestServer(tb testing.TB, o serverOpts) *testServer {
	tb.Helper()
	if o.d == nil {
		o.d = &fakeDispatcher{}
	}
	if o.authn == nil {
		o.authn = auth.New(nil, nil) // open development mode
	}
	hub := NewHub(o.hub)
	if err := hub.Open(context.Background()); err != nil {
		tb.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /v1/driver/ws", DriverHandler(o.d, hub, o.authn, o.handler))
	mux.Handle("GET /v1/rider/ws", RiderHandler(o.d, hub, o.authn, o.handler))
	srv := httptest.NewUnstartedServer(mux)
	if o.sndbuf > 0 {
		srv.Listener = &bufListener{Listener: srv.Listener, sndbuf: o.sndbuf}
	}
	srv.Start()
	ts := &testServer{hub: hub, d: o.d, srv: srv, url: srv.URL}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		if err := hub.Shutdown(ctx); err != nil {
			tb.Errorf("hub shutdown: %v", err)
		}
		srv.Close()
	})
	return ts
}

// bufListener shrinks the send buffer of the first connection it accepts.
type bufListener struct {
	net.Listener
	sndbuf int
	once   sync.Once
}

func (l *bufListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		l.once.Do(func() { _ = tc.SetWriteBuffer(l.sndbuf) })
	}
	return c, err
}

// smallRcvDialer dials with a small kernel receive buffer.
func smallRcvDialer(rcvbuf int) *websocket.Dialer {
	nd := &net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, rcvbuf)
		})
		return errors.Join(err, serr)
	}}
	return &websocket.Dialer{NetDialContext: nd.DialContext, HandshakeTimeout: 10 * time.Second}
}

func (ts *testServer) dialDriver(tb testing.TB, id string) *Client {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	c, err := DialDriver(ctx, ts.url, id, "")
	if err != nil {
		tb.Fatalf("dial driver %s: %v", id, err)
	}
	tb.Cleanup(func() { _ = c.Close() })
	return c
}

func (ts *testServer) dialRider(tb testing.TB, rideID, riderID string) *Client {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	c, err := DialRider(ctx, ts.url, rideID, riderID, "")
	if err != nil {
		tb.Fatalf("dial rider %s: %v", riderID, err)
	}
	tb.Cleanup(func() { _ = c.Close() })
	return c
}

// next returns the client's next frame, failing when none comes or the
// connection ends.
func next(tb testing.TB, c *Client) Message {
	tb.Helper()
	select {
	case m, ok := <-c.Messages():
		if !ok {
			tb.Fatalf("connection ended: %v", c.Err())
		}
		return m
	case <-time.After(waitTimeout):
		tb.Fatal("no message")
	}
	return Message{}
}

// nextOf returns the next frame, which must have type typ.
func nextOf(tb testing.TB, c *Client, typ string) Message {
	tb.Helper()
	m := next(tb, c)
	if m.Type != typ {
		tb.Fatalf("got %s, want a %s frame", m.Raw, typ)
	}
	return m
}

// nextError returns the next frame, which must be an error frame.
func nextError(tb testing.TB, c *Client) ErrorMessage {
	tb.Helper()
	var e ErrorMessage
	if err := nextOf(tb, c, TypeError).Decode(&e); err != nil {
		tb.Fatal(err)
	}
	return e
}

// waitClosed drains c until the connection ends and returns its close
// code.
func waitClosed(tb testing.TB, c *Client) int {
	tb.Helper()
	timeout := time.After(waitTimeout)
	for {
		select {
		case _, ok := <-c.Messages():
			if !ok {
				return CloseCode(c.Err())
			}
		case <-timeout:
			tb.Fatal("connection did not end")
		}
	}
}

// waitGoroutines polls until the goroutine count is back to at most base.
func waitGoroutines(tb testing.TB, base int) {
	tb.Helper()
	checkFor(tb, waitTimeout, func() error {
		if n := runtime.NumGoroutine(); n > base {
			return fmt.Errorf("%d goroutines, baseline %d", n, base)
		}
		return nil
	})
}

// waitStats polls the hub's stats until ok accepts them.
func waitStats(tb testing.TB, h *Hub, what string, ok func(Stats) bool) Stats {
	tb.Helper()
	var s Stats
	checkFor(tb, waitTimeout, func() error {
		s = h.Stats()
		if !ok(s) {
			return fmt.Errorf("%s: stats %+v", what, s)
		}
		return nil
	})
	return s
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
