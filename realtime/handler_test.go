package realtime

import (
	"context"
	"errors"
	"net/http"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/ridehail/dispatch/dispatch"
	"github.com/ridehail/dispatch/internal/auth"
)

// dialStatus dials path with header h and returns the refusal, which must
// happen.
func dialStatus(t *testing.T, ts *testServer, path string, h http.Header) *DialError {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	c, err := dial(ctx, websocket.DefaultDialer, "ws"+strings.TrimPrefix(ts.url, "http")+path, h)
	if err == nil {
		c.Close()
		t.Fatalf("%s: connected, want a refusal", path)
	}
	var de *DialError
	if !errors.As(err, &de) {
		t.Fatalf("%s: %v, want a *DialError", path, err)
	}
	return de
}

func TestHandler_Refusals(t *testing.T) {
	secret := []byte("0123456789abcdef0123456789abcdef")
	authn := auth.New(secret, nil)
	ts := newTestServer(t, serverOpts{authn: authn, handler: HandlerConfig{AllowedOrigins: []string{"https://app.example.com"}}})
	token := func(role, id string, ttl time.Duration) http.Header {
		tok, err := authn.Issue(role, id, ttl)
		if err != nil {
			t.Fatal(err)
		}
		return http.Header{"Authorization": {"Bearer " + tok}}
	}
	driverTok := token(auth.RoleDriver, "d1", time.Hour)
	riderTok := token(auth.RoleRider, "u1", time.Hour)
	withOrigin := func(h http.Header, origin string) http.Header {
		h = h.Clone()
		h.Set("Origin", origin)
		return h
	}
	cases := []struct {
		name   string
		path   string
		header http.Header
		status int
		code   string
	}{
		{"DriverNoToken", "/v1/driver/ws", nil, 401, dispatch.CodeUnauth},
		{"DriverBadToken", "/v1/driver/ws", http.Header{"Authorization": {"Bearer nope"}}, 401, dispatch.CodeUnauth},
		{"DriverExpiredToken", "/v1/driver/ws", token(auth.RoleDriver, "d1", -time.Minute), 401, dispatch.CodeUnauth},
		{"DriverQueryInTokenMode", "/v1/driver/ws?driver_id=d1", nil, 401, dispatch.CodeUnauth},
		{"RiderTokenOnDriverSocket", "/v1/driver/ws", riderTok, 403, dispatch.CodePermission},
		{"DriverTokenOnRiderSocket", "/v1/rider/ws?ride_id=r1", driverTok, 403, dispatch.CodePermission},
		{"RiderNoToken", "/v1/rider/ws?ride_id=r1", nil, 401, dispatch.CodeUnauth},
		{"RiderNoRideID", "/v1/rider/ws", riderTok, 400, dispatch.CodeInvalid},
		{"RiderNotHisRide", "/v1/rider/ws?ride_id=r2", riderTok, 404, dispatch.CodeNotFound},
		{"ForeignOrigin", "/v1/driver/ws", withOrigin(driverTok, "https://evil.example.org"), 403, dispatch.CodePermission},
		{"ForeignOriginRider", "/v1/rider/ws?ride_id=r1", withOrigin(riderTok, "http://localhost:1"), 403, dispatch.CodePermission},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			de := dialStatus(t, ts, tc.path, tc.header)
			if de.StatusCode != tc.status || de.Code != tc.code || de.Message == "" {
				t.Fatalf("got %d %s %q, want %d %s", de.StatusCode, de.Code, de.Message, tc.status, tc.code)
			}
		})
	}
	if n := len(ts.d.callsOf("DriverConnected")); n != 0 {
		t.Fatalf("DriverConnected called %d times for refused requests", n)
	}

	// The same tokens are accepted with no Origin (native app), the
	// server's own origin, or an allowed one.
	for _, origin := range []string{"", ts.url, "https://app.example.com", "HTTPS://APP.EXAMPLE.COM/"} {
		h := driverTok
		if origin != "" {
			h = withOrigin(driverTok, origin)
		}
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		c, err := dial(ctx, websocket.DefaultDialer, "ws"+strings.TrimPrefix(ts.url, "http")+"/v1/driver/ws", h)
		cancel()
		if err != nil {
			t.Fatalf("origin %q: %v", origin, err)
		}
		nextOf(t, c, TypeWelcome)
		c.Close()
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	c, err := dial(ctx, websocket.DefaultDialer, "ws"+strings.TrimPrefix(ts.url, "http")+"/v1/rider/ws?ride_id=r1", riderTok)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	nextOf(t, c, TypeRide)

	t.Run("PlainHTTP", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodGet, ts.url+"/v1/driver/ws", nil)
		req.Header = driverTok.Clone()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Content-Type") != "application/json" {
			t.Fatalf("status %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
		}
	})
}

func TestHandler_OversizeFrame(t *testing.T) {
	ts := newTestServer(t, serverOpts{})
	c := ts.dialDriver(t, "d1")
	nextOf(t, c, TypeWelcome)
	big := `{"type":"location","pad":"` + strings.Repeat("x", 5000) + `","lat":1,"lon":1,"ts":1}`
	if err := c.SendRaw(context.Background(), []byte(big)); err != nil {
		t.Fatal(err)
	}
	if code := waitClosed(t, c); code != CloseTooBig {
		t.Fatalf("close code %d, want %d", code, CloseTooBig)
	}
	s := waitStats(t, ts.hub, "closed", func(s Stats) bool { return s.DriverConns == 0 })
	if s.TooBig != 1 || len(ts.d.callsOf("UpdateLocation")) != 0 {
		t.Fatalf("stats %+v", s)
	}
	ts.d.waitCalls(t, "DriverDisconnected", 1)
}

func TestHandler_ReplaceDriver(t *testing.T) {
	ts := newTestServer(t, serverOpts{})
	first := ts.dialDriver(t, "d1")
	nextOf(t, first, TypeWelcome)
	second := ts.dialDriver(t, "d1")
	nextOf(t, second, TypeWelcome)

	if code := waitClosed(t, first); code != CloseReplaced {
		t.Fatalf("first closed with %d, want %d", code, CloseReplaced)
	}
	// Once the first handler has returned (DriverConns back to 1) it must
	// not have reported the driver gone: the second connection is live.
	waitStats(t, ts.hub, "first gone", func(s Stats) bool { return s.DriverConns == 1 })
	if n := len(ts.d.callsOf("DriverDisconnected")); n != 0 {
		t.Fatalf("DriverDisconnected called %d times for a replaced connection", n)
	}
	if s := ts.hub.Stats(); s.Replaced != 1 {
		t.Fatalf("Replaced = %d", s.Replaced)
	}
	// Events reach the new connection.
	ts.hub.NotifyDriver(context.Background(), "d1", dispatch.OfferRevokedEvent{Type: "offer_revoked", OfferID: "r1.1", Reason: "expired"})
	nextOf(t, second, TypeOfferRevoked)

	second.Close()
	got := ts.d.waitCalls(t, "DriverDisconnected", 1)
	if got[0].ID != "d1" {
		t.Fatalf("DriverDisconnected(%q)", got[0].ID)
	}
	if n := len(ts.d.callsOf("DriverConnected")); n != 2 {
		t.Fatalf("DriverConnected called %d times", n)
	}
}

// sessions numbers DriverConnected calls as the engine does, one counter
// shared by the nodes of a test.
type sessions struct{ n atomic.Int64 }

func (s *sessions) connected(_ context.Context, id string) (*dispatch.DriverState, error) {
	return &dispatch.DriverState{Driver: &dispatch.Driver{ID: id, Status: dispatch.DriverAvailable, Connected: true, Session: s.n.Add(1)}}, nil
}

// TestHub_SessionAcrossNodes runs two hubs on one broker: a driver
// connecting on node B closes its older connection on node A.
func TestHub_SessionAcrossNodes(t *testing.T) {
	broker := NewMemoryBroker()
	var seq sessions
	a := newTestServer(t, serverOpts{hub: HubConfig{Broker: broker, NodeID: "a"}, d: &fakeDispatcher{DriverConnectedFn: seq.connected}})
	// B's clock runs a second behind: the session number, not the clock,
	// says which connection is newer.
	behind := func() time.Time { return time.Now().Add(-time.Second) }
	b := newTestServer(t, serverOpts{hub: HubConfig{Broker: broker, NodeID: "b", Now: behind}, d: &fakeDispatcher{DriverConnectedFn: seq.connected}})
	onA := a.dialDriver(t, "d1")
	nextOf(t, onA, TypeWelcome)

	// Events published on B reach the driver on A.
	b.hub.NotifyDriver(context.Background(), "d1", dispatch.RideCancelledEvent{Type: "ride_cancelled", RideID: "r1", By: "rider"})
	nextOf(t, onA, TypeRideCancelled)

	onB := b.dialDriver(t, "d1")
	nextOf(t, onB, TypeWelcome)
	if code := waitClosed(t, onA); code != CloseReplaced {
		t.Fatalf("node A connection closed with %d, want %d", code, CloseReplaced)
	}
	waitStats(t, a.hub, "A drained", func(s Stats) bool { return s.DriverConns == 0 })
	if n := len(a.d.callsOf("DriverDisconnected")); n != 0 {
		t.Fatalf("node A reported the driver gone %d times", n)
	}
}

// TestHub_SessionRaceAcrossNodes: a connection set up first on node A but
// numbered last by the engine (its DriverConnected was slow) is the
// current one; B's notice, which reaches A while A still waits for its
// number, must not close it, and A's notice closes B. Whatever the timing,
// exactly one connection survives, the one the engine counts as current.
func TestHub_SessionRaceAcrossNodes(t *testing.T) {
	broker := NewMemoryBroker()
	var seq sessions
	entered, release := make(chan struct{}), make(chan struct{})
	slow := &fakeDispatcher{DriverConnectedFn: func(ctx context.Context, id string) (*dispatch.DriverState, error) {
		close(entered)
		<-release
		return seq.connected(ctx, id)
	}}
	a := newTestServer(t, serverOpts{hub: HubConfig{Broker: broker, NodeID: "a"}, d: slow})
	b := newTestServer(t, serverOpts{hub: HubConfig{Broker: broker, NodeID: "b"}, d: &fakeDispatcher{DriverConnectedFn: seq.connected}})

	onA := a.dialDriver(t, "d1") // the upgrade does not wait for DriverConnected
	<-entered                    // A is registered and waiting for its session number
	onB := b.dialDriver(t, "d1")
	nextOf(t, onB, TypeWelcome) // B is session 1, announced to A
	waitStats(t, b.hub, "B registered", func(s Stats) bool { return s.DriverConns == 1 })
	close(release) // A becomes session 2: the current one
	nextOf(t, onA, TypeWelcome)
	if code := waitClosed(t, onB); code != CloseReplaced {
		t.Fatalf("node B connection (session 1) closed with %d, want %d", code, CloseReplaced)
	}
	// A's connection is alive: an event published on B reaches it.
	b.hub.NotifyDriver(context.Background(), "d1", dispatch.RideCancelledEvent{Type: "ride_cancelled", RideID: "r1", By: "rider"})
	nextOf(t, onA, TypeRideCancelled)
	if s := a.hub.Stats(); s.DriverConns != 1 || s.Replaced != 0 {
		t.Fatalf("node A: %d driver connections, %d replaced; want 1, 0", s.DriverConns, s.Replaced)
	}
}

func TestHandler_TokenExpiry(t *testing.T) {
	expires := time.Now().Add(300 * time.Millisecond)
	ts := newTestServer(t, serverOpts{authn: fakeAuth{expires: expires}})
	c := ts.dialDriver(t, "d1")
	nextOf(t, c, TypeWelcome)
	r := ts.dialRider(t, "r1", "u1")
	nextOf(t, r, TypeRide)
	if code := waitClosed(t, c); code != CloseTokenExpired {
		t.Fatalf("driver closed with %d, want %d", code, CloseTokenExpired)
	}
	if code := waitClosed(t, r); code != CloseTokenExpired {
		t.Fatalf("rider closed with %d, want %d", code, CloseTokenExpired)
	}
	if !time.Now().After(expires) {
		t.Fatal("closed before the token expired")
	}
	waitStats(t, ts.hub, "expired", func(s Stats) bool { return s.TokenExpired == 2 && s.DriverConns == 0 && s.RiderConns == 0 })
}

func TestHandler_RateLimitAndFlood(t *testing.T) {
	// A rate that never refills within the test makes the counts exact.
	ts := newTestServer(t, serverOpts{hub: HubConfig{FrameRate: 1e-9, FrameBurst: 5, FloodLimit: 20}})
	c := ts.dialDriver(t, "d1")
	nextOf(t, c, TypeWelcome)
	ctx := context.Background()
	fix := `{"type":"location","lat":1,"lon":1,"ts":1}`
	for range 6 {
		if err := c.SendRaw(ctx, []byte(fix)); err != nil {
			t.Fatal(err)
		}
	}
	if e := nextError(t, c); e.Code != dispatch.CodeRateLimited || e.Ref != TypeLocation {
		t.Fatalf("error = %+v", e)
	}
	ts.d.waitCalls(t, "UpdateLocation", 5)
	// The connection is still open; keep flooding until it closes.
	for i := 0; i < 30; i++ {
		if err := c.SendRaw(ctx, []byte(fix)); err != nil {
			break // closed by the server meanwhile
		}
	}
	if code := waitClosed(t, c); code != ClosePolicyViolation {
		t.Fatalf("close code %d, want %d", code, ClosePolicyViolation)
	}
	s := waitStats(t, ts.hub, "flood", func(s Stats) bool { return s.Floods == 1 && s.DriverConns == 0 })
	if n := len(ts.d.callsOf("UpdateLocation")); n != 5 || s.RateLimited < 20 {
		t.Fatalf("UpdateLocation called %d times, stats %+v", n, s)
	}
}

func TestHub_Shutdown(t *testing.T) {
	ts := newTestServer(t, serverOpts{})
	base := runtime.NumGoroutine()
	var clients []*Client
	for _, id := range []string{"d1", "d2", "d3"} {
		c := ts.dialDriver(t, id)
		nextOf(t, c, TypeWelcome)
		clients = append(clients, c)
	}
	r := ts.dialRider(t, "r1", "u1")
	nextOf(t, r, TypeRide)
	clients = append(clients, r)
	// Queued messages are flushed before the close frame.
	ts.hub.NotifyDriver(context.Background(), "d1", dispatch.OfferRevokedEvent{Type: "offer_revoked", OfferID: "x.1", Reason: "expired"})

	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := ts.hub.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if s := ts.hub.Stats(); s.DriverConns != 0 || s.RiderConns != 0 {
		t.Fatalf("after Shutdown: %+v", s)
	}
	nextOf(t, clients[0], TypeOfferRevoked)
	for _, c := range clients {
		if code := waitClosed(t, c); code != CloseGoingAway {
			t.Fatalf("closed with %d, want %d", code, CloseGoingAway)
		}
	}
	ts.d.waitCalls(t, "DriverDisconnected", 3)
	if err := ts.hub.Shutdown(ctx); err != nil { // idempotent
		t.Fatal(err)
	}
	de := dialStatus(t, ts, "/v1/driver/ws?driver_id=d9", nil)
	if de.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("dial after shutdown: %v", de)
	}
	if err := ts.hub.Open(ctx); !errors.Is(err, ErrHubClosed) {
		t.Fatalf("Open after Shutdown: %v", err)
	}
	for _, c := range clients {
		c.Close()
	}
	waitGoroutines(t, base)
}
