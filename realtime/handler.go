package realtime

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/gorilla/websocket"

	"github.com/ridehail/dispatch/dispatch"
	"github.com/ridehail/dispatch/internal/auth"
)

// Dispatcher is what the WebSocket layer needs from the engine;
// *dispatch.Engine implements it. Errors are *dispatch.Error values (or
// wrap the store sentinels), mapped to wire codes by dispatch.ErrorCode.
type Dispatcher interface {
	DriverConnected(ctx context.Context, driverID string) (*dispatch.DriverState, error)
	DriverDisconnected(ctx context.Context, driverID string, session int64) error
	UpdateLocation(ctx context.Context, driverID string, f dispatch.Fix) error
	SetDriverStatus(ctx context.Context, driverID string, s dispatch.DriverStatus) (*dispatch.Driver, error)
	Accept(ctx context.Context, driverID, offerID string) (*dispatch.Ride, error)
	Decline(ctx context.Context, driverID, offerID string) error
	Arrived(ctx context.Context, driverID, rideID string) (*dispatch.Ride, error)
	Start(ctx context.Context, driverID, rideID string) (*dispatch.Ride, error)
	Complete(ctx context.Context, driverID, rideID string, pathDistanceM float64) (*dispatch.Ride, error)
	CancelRide(ctx context.Context, a dispatch.Actor, rideID string) (*dispatch.Ride, error)
	GetRide(ctx context.Context, a dispatch.Actor, id string) (*dispatch.Ride, error)
}

var _ Dispatcher = (*dispatch.Engine)(nil)

// Authenticator identifies the caller of a request; want is the role the
// endpoint needs. It returns an error wrapping auth.ErrUnauthenticated
// (401) or auth.ErrForbidden (403). *auth.Authenticator implements it.
type Authenticator interface {
	Identify(r *http.Request, want string) (auth.Identity, error)
}

var _ Authenticator = (*auth.Authenticator)(nil)

// handlerBase holds what both endpoints share.
type handlerBase struct {
	d     Dispatcher
	hub   *Hub
	authn Authenticator
	cfg   HandlerConfig
}

// DriverHandler serves GET /v1/driver/ws. It refuses the request before
// the upgrade with a JSON error: 403 for a foreign origin or a rider
// token, 401 without a valid identity, 503 when the hub is not open. After
// the upgrade it registers the driver (replacing an older connection),
// calls DriverConnected, sends the welcome and then serves driver frames.
//
// Both handlers return from ServeHTTP as soon as the connection is
// upgraded; the connection then runs on its own goroutine, which the Hub
// tracks (Hub.Shutdown waits for it; http.Server.Shutdown does not wait
// for upgraded connections).
func DriverHandler(d Dispatcher, hub *Hub, authn Authenticator, cfg HandlerConfig) http.Handler {
	return &driverHandler{handlerBase{d: d, hub: hub, authn: authn, cfg: cfg}}
}

// RiderHandler serves GET /v1/rider/ws?ride_id=. Besides the refusals of
// DriverHandler it answers 400 without ride_id and 404 when the ride is
// not the caller's, before the upgrade. After the upgrade it sends the
// ride snapshot and then every event of the ride.
func RiderHandler(d Dispatcher, hub *Hub, authn Authenticator, cfg HandlerConfig) http.Handler {
	return &riderHandler{handlerBase{d: d, hub: hub, authn: authn, cfg: cfg}}
}

// admit runs the checks common to both endpoints and returns the caller's
// identity, or writes the refusal and returns false.
func (b *handlerBase) admit(w http.ResponseWriter, r *http.Request, role string) (auth.Identity, bool) {
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusMethodNotAllowed)
		_, _ = w.Write([]byte(`{"error":{"code":"invalid_argument","message":"method not allowed: use GET"}}` + "\n"))
		return auth.Identity{}, false
	}
	if !originAllowed(r, b.cfg.AllowedOrigins) {
		writeHTTPError(w, dispatch.CodePermission, "origin not allowed")
		return auth.Identity{}, false
	}
	id, err := b.authn.Identify(r, role)
	switch {
	case errors.Is(err, auth.ErrForbidden):
		writeHTTPError(w, dispatch.CodePermission, authMessage(err, auth.ErrForbidden))
		return auth.Identity{}, false
	case err != nil:
		writeHTTPError(w, dispatch.CodeUnauth, authMessage(err, auth.ErrUnauthenticated))
		return auth.Identity{}, false
	case id.ID == "" || id.Role != role:
		writeHTTPError(w, dispatch.CodeUnauth, "this endpoint needs a "+role+" identity")
		return auth.Identity{}, false
	}
	return id, true
}

// upgrade checks the request is a WebSocket handshake and the hub takes
// connections, then upgrades it. On success the caller must call
// hub.release when the connection has ended.
func (b *handlerBase) upgrade(w http.ResponseWriter, r *http.Request) (*websocket.Conn, bool) {
	if !websocket.IsWebSocketUpgrade(r) {
		writeHTTPError(w, dispatch.CodeInvalid, "a WebSocket upgrade is required")
		return nil, false
	}
	if !b.hub.acquire() {
		writeHTTPError(w, dispatch.CodeUnavailable, "the server is not accepting connections, retry")
		return nil, false
	}
	ws, err := b.hub.upgrader.Upgrade(w, r, nil)
	if err != nil {
		// The upgrader has written the HTTP error.
		b.hub.release()
		return nil, false
	}
	return ws, true
}

// authMessage strips the sentinel prefix from an auth error.
func authMessage(err, sentinel error) string {
	return strings.TrimPrefix(err.Error(), sentinel.Error()+": ")
}

// originAllowed accepts requests without Origin (native apps), from the
// request's own host, and from the allow-list.
func originAllowed(r *http.Request, allowed []string) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false
	}
	if strings.EqualFold(u.Host, r.Host) {
		return true
	}
	origin = strings.TrimSuffix(origin, "/")
	for _, a := range allowed {
		if a == "*" || strings.EqualFold(strings.TrimSuffix(a, "/"), origin) {
			return true
		}
	}
	return false
}

type driverHandler struct{ handlerBase }

func (h *driverHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	id, ok := h.admit(w, r, auth.RoleDriver)
	if !ok {
		return
	}
	ws, ok := h.upgrade(w, r)
	if !ok {
		return
	}
	// The connection is set up here, then served on a goroutine of its
	// own so that ServeHTTP returns and net/http's per-request state (two
	// 4 KB buffers among others) is freed. That goroutine starts with a
	// small stack, which the deep set-up calls would have grown: an idle
	// connection costs one goroutine with a small stack.
	s := h.open(ws, id)
	go h.serve(s)
}

// open registers an upgraded driver connection, calls DriverConnected and
// queues the welcome.
func (h *driverHandler) open(ws *websocket.Conn, id auth.Identity) *driverSession {
	hub := h.hub
	c := newConn(hub, ws, auth.RoleDriver, id.ID, id.Expires)
	hub.stats.driverConns.Add(1)
	hub.track(c)
	s := &driverSession{c: c, d: h.d}
	unlock := hub.lockSession(c.id)
	hub.registerDriver(c)
	s.connected = s.welcome()
	if s.connected {
		hub.announceSession(c, s.session)
	}
	unlock()
	c.release()
	return s
}

// serve reads the driver's frames until the connection ends, then tells
// the engine the driver is gone (unless a newer connection replaced it).
func (h *driverHandler) serve(s *driverSession) {
	h.end(s, s.c.readLoop(s.handle))
}

// end closes the connection after readLoop returned err, and tells the
// engine. (Apart from serve, so that its frame is not on the stack of
// the waiting reader.)
//
//go:noinline
func (h *driverHandler) end(s *driverSession, err error) {
	hub, c := h.hub, s.c
	defer hub.release()
	defer hub.stats.driverConns.Add(-1)
	defer hub.untrack(c)
	c.finish(err)

	unlock := hub.lockSession(c.id)
	defer unlock()
	if hub.unregisterDriver(c) && s.connected {
		ctx, cancel := c.callContext()
		defer cancel()
		if err := h.d.DriverDisconnected(ctx, c.id, s.session); err != nil {
			hub.log.Warn("driver disconnected", "driver", c.id, "err", err)
		}
	}
}

type riderHandler struct{ handlerBase }

func (h *riderHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	id, ok := h.admit(w, r, auth.RoleRider)
	if !ok {
		return
	}
	rideID := r.URL.Query().Get("ride_id")
	if err := checkID("ride_id", rideID); err != nil {
		writeHTTPError(w, dispatch.CodeInvalid, err.Error())
		return
	}
	actor := dispatch.Actor{Role: dispatch.RoleRider, ID: id.ID}
	ctx, cancel := context.WithTimeout(r.Context(), h.hub.cfg.CallTimeout)
	ride, err := h.d.GetRide(ctx, actor, rideID)
	cancel()
	if err != nil {
		code, msg := wireError(err)
		writeHTTPError(w, code, msg)
		return
	}
	ws, ok := h.upgrade(w, r)
	if !ok {
		return
	}
	c := h.open(ws, id, actor, rideID, ride)
	go h.serve(c) // see driverHandler.ServeHTTP
}

// open registers an upgraded rider connection following ride rideID and
// queues the snapshot; ride is the snapshot read before the upgrade.
func (h *riderHandler) open(ws *websocket.Conn, id auth.Identity, actor dispatch.Actor, rideID string, ride *dispatch.Ride) *conn {
	hub := h.hub
	c := newConn(hub, ws, auth.RoleRider, id.ID, id.Expires)
	c.rideID, c.latest = strings.Clone(rideID), true // see newConn
	hub.stats.riderConns.Add(1)
	hub.track(c)
	hub.subscribeRide(c)

	// Subscribed first, then read the snapshot, so no change falls in
	// between; a change queued meanwhile may repeat what the snapshot
	// shows (clients order ride objects by version).
	ctx, cancel := c.callContext()
	if fresh, err := h.d.GetRide(ctx, actor, rideID); err == nil {
		ride = fresh
	}
	cancel()
	if data, err := json.Marshal(RideMessage{Type: TypeRide, Ride: ride}); err == nil {
		c.enqueueFront(outMsg{data: data})
	}
	if ride != nil {
		c.noteRide(ride.Version, rideHasDriverStatus(ride.Status))
	}
	c.release()
	return c
}

// serve reads (and refuses) the rider's frames until the connection ends.
func (h *riderHandler) serve(c *conn) {
	hub := h.hub
	defer hub.release()
	defer hub.stats.riderConns.Add(-1)
	defer hub.untrack(c)
	defer hub.unsubscribeRide(c)
	err := c.readLoop(func(_ int, data []byte) {
		ref := frameRef(data)
		if !c.allowFrame() {
			c.sendError(dispatch.CodeRateLimited, "too many messages: slow down", ref)
			return
		}
		hub.stats.badFrames.Add(1)
		c.sendError(dispatch.CodeInvalid, "riders send no messages on this socket", ref)
	})
	c.finish(err)
}

// frameRef returns the id or type of a frame that is not decoded further.
func frameRef(data []byte) string {
	var head struct {
		Type string `json:"type"`
		ID   string `json:"id"`
	}
	_ = json.Unmarshal(data, &head) // best effort: an unreadable frame has no ref
	return refOf(head.ID, head.Type)
}
