// Package blackbox_test attacks a running dispatch server from the outside:
// it speaks only the wire contract (HTTP and WebSocket, docs/protocol.md)
// to servers started in-process on loopback ports, as an external client
// author would. Tests asserting behaviour the server does not yet have
// live in *_knownbug_test.go files behind the knownbug build tag.
package blackbox_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/ridehail/dispatch/internal/server"
)

// waitFor bounds every wait of the package.
const waitFor = 10 * time.Second

// pickup is the pickup of every test ride; drivers are placed north of it.
var (
	pickupLat, pickupLon = 37.7749, -122.4194
	tripBody             = `{"pickup":{"lat":37.7749,"lon":-122.4194},"dropoff":{"lat":37.8044,"lon":-122.2712}}`
)

// start runs a server on a free loopback port until the test ends. Zero
// rate-limit settings are raised so that tests are not throttled unless
// they ask to be.
func start(t testing.TB, cfg server.Config) *server.Server {
	t.Helper()
	cfg.Addr = "127.0.0.1:0"
	if cfg.Hub.FrameRate == 0 {
		cfg.Hub.FrameRate, cfg.Hub.FrameBurst = 100000, 100000
	}
	if cfg.RidesPerHour == 0 {
		cfg.RidesPerHour = -1
	}
	srv, err := server.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Connections dialled by the transport but never used count as
		// busy for 5 s in http.Server.Shutdown: drop them first.
		httpClient.CloseIdleConnections()
		ctx, cancel := context.WithTimeout(context.Background(), waitFor)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return srv
}

// --- HTTP ---------------------------------------------------------------

var httpClient = &http.Client{
	Timeout: waitFor,
	// Show redirects instead of following them.
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

type resp struct {
	status int
	header http.Header
	body   []byte
}

func (r resp) String() string { return fmt.Sprintf("%d %s", r.status, r.body) }

// do sends one request. hdr are extra headers as key, value pairs.
func do(t testing.TB, method, u, body string, hdr ...string) resp {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := httpClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, u, err)
	}
	return resp{status: res.StatusCode, header: res.Header, body: b}
}

// apiError is the contract's HTTP error body.
type apiError struct {
	Error *struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// wantError checks that r is the contract's JSON error with the given
// status and code (code "" accepts any non-empty code).
func wantError(t testing.TB, what string, r resp, status int, code string) {
	t.Helper()
	if r.status != status {
		t.Errorf("%s: status %d, want %d (body %s)", what, r.status, status, r.body)
		return
	}
	var e apiError
	if err := json.Unmarshal(r.body, &e); err != nil || e.Error == nil || e.Error.Code == "" || e.Error.Message == "" {
		t.Errorf("%s: body is not {\"error\":{\"code\",\"message\"}}: %s", what, r.body)
		return
	}
	if code != "" && e.Error.Code != code {
		t.Errorf("%s: code %q, want %q (message %q)", what, e.Error.Code, code, e.Error.Message)
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("%s: Content-Type %q, want application/json", what, ct)
	}
}

// money is the contract's money object.
type money struct {
	Amount   int64  `json:"amount"`
	Currency string `json:"currency"`
}

type rating struct {
	Stars   int    `json:"stars"`
	Comment string `json:"comment"`
}

// ride is the contract's ride object (the fields the tests read).
type ride struct {
	ID           string  `json:"id"`
	Status       string  `json:"status"`
	RiderID      string  `json:"rider_id"`
	DriverID     string  `json:"driver_id"`
	Fare         money   `json:"fare"`
	FinalFare    *money  `json:"final_fare"`
	CancelledBy  string  `json:"cancelled_by"`
	RiderRating  *rating `json:"rider_rating"`
	DriverRating *rating `json:"driver_rating"`
	Version      int64   `json:"version"`
}

func decodeRide(t testing.TB, what string, r resp, status int) ride {
	t.Helper()
	if r.status != status {
		t.Fatalf("%s: %s, want status %d", what, r, status)
	}
	var rd ride
	if err := json.Unmarshal(r.body, &rd); err != nil || rd.ID == "" {
		t.Fatalf("%s: not a ride object: %s (%v)", what, r.body, err)
	}
	return rd
}

// requestRide books the standard test trip for rider.
func requestRide(t testing.TB, base, rider string) ride {
	t.Helper()
	return decodeRide(t, "POST /v1/rides", do(t, "POST", base+"/v1/rides?rider_id="+url.QueryEscape(rider), tripBody), http.StatusCreated)
}

// getRide reads a ride as the anonymous operator of the open mode.
func getRide(t testing.TB, base, id string) ride {
	t.Helper()
	return decodeRide(t, "GET ride", do(t, "GET", base+"/v1/rides/"+id, ""), http.StatusOK)
}

type nearbyDriver struct {
	ID        string  `json:"id"`
	Lat       float64 `json:"lat"`
	Lon       float64 `json:"lon"`
	DistanceM float64 `json:"distance_m"`
}

// nearby lists the available, fresh drivers within 5 km of the pickup.
func nearby(t testing.TB, base string) []nearbyDriver {
	t.Helper()
	r := do(t, "GET", fmt.Sprintf("%s/v1/drivers/nearby?lat=%v&lon=%v&radius_m=5000&limit=100", base, pickupLat, pickupLon), "")
	if r.status != http.StatusOK {
		t.Fatalf("nearby: %s", r)
	}
	var out struct {
		Drivers []nearbyDriver `json:"drivers"`
	}
	if err := json.Unmarshal(r.body, &out); err != nil || out.Drivers == nil {
		t.Fatalf("nearby: %s (%v)", r.body, err)
	}
	return out.Drivers
}

func nearbyIDs(t testing.TB, base string) map[string]nearbyDriver {
	t.Helper()
	m := map[string]nearbyDriver{}
	for _, d := range nearby(t, base) {
		m[d.ID] = d
	}
	return m
}

// metric returns the value of an unlabelled metric from /metrics.
func metric(t testing.TB, base, name string) float64 {
	t.Helper()
	r := do(t, "GET", base+"/metrics", "")
	if r.status != http.StatusOK {
		t.Fatalf("metrics: %d", r.status)
	}
	for _, line := range strings.Split(string(r.body), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				t.Fatalf("metric %s: %q", name, line)
			}
			return f
		}
	}
	t.Fatalf("metric %s not exposed", name)
	return 0
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, waitFor)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// --- WebSocket ----------------------------------------------------------

// frame is one server frame, decoded into the union of the fields the
// tests read.
type frame struct {
	Type     string        `json:"type"`
	Code     string        `json:"code"`
	Message  string        `json:"message"`
	Ref      *string       `json:"ref"`
	OfferID  string        `json:"offer_id"`
	RideID   string        `json:"ride_id"`
	Reason   string        `json:"reason"`
	By       string        `json:"by"`
	DriverID string        `json:"driver_id"`
	Status   string        `json:"status"`
	Ride     *ride         `json:"ride"`
	Offer    *offerPayload `json:"offer"`
	Lat      float64       `json:"lat"`
	Lon      float64       `json:"lon"`
	ExpireAt int64         `json:"expires_at"`
	Raw      string        `json:"-"`
}

type offerPayload struct {
	OfferID string `json:"offer_id"`
	RideID  string `json:"ride_id"`
}

func (f frame) ref() string {
	if f.Ref == nil {
		return "<none>"
	}
	return *f.Ref
}

// client is a minimal WebSocket client written against the contract only.
type client struct {
	t      testing.TB
	ws     *websocket.Conn
	frames chan frame
	done   chan struct{} // closed when the reader returns
	quit   chan struct{} // closed by close: the reader stops delivering
	once   sync.Once
	err    error // why the reader returned; read after done
	wmu    sync.Mutex
	syncN  atomic.Int64
}

// dialWS opens a WebSocket on base+path (http scheme) with the headers.
// It returns the handshake response when refused.
func dialWS(t testing.TB, base, path string, hdr http.Header, setup ...func(*websocket.Conn)) (*client, *http.Response, error) {
	t.Helper()
	u := "ws" + strings.TrimPrefix(base, "http") + path
	d := websocket.Dialer{HandshakeTimeout: waitFor}
	ws, res, err := d.Dial(u, hdr)
	if err != nil {
		return nil, res, err
	}
	for _, f := range setup {
		f(ws)
	}
	c := &client{t: t, ws: ws, frames: make(chan frame, 4096), done: make(chan struct{}), quit: make(chan struct{})}
	go c.read()
	t.Cleanup(c.close)
	return c, res, nil
}

func (c *client) read() {
	defer close(c.done)
	defer close(c.frames)
	for {
		_, data, err := c.ws.ReadMessage()
		if err != nil {
			c.err = err
			return
		}
		var f frame
		if err := json.Unmarshal(data, &f); err != nil {
			f = frame{Type: "<not json>"}
		}
		f.Raw = string(data)
		select {
		case c.frames <- f:
		case <-c.quit:
			c.err = fmt.Errorf("closed by the test")
			return
		}
	}
}

// close sends a normal close and drops the socket.
func (c *client) close() {
	c.once.Do(func() { close(c.quit) })
	c.wmu.Lock()
	_ = c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
	c.wmu.Unlock()
	_ = c.ws.Close()
	<-c.done
}

// kill drops the TCP connection without a close frame.
func (c *client) kill() {
	c.once.Do(func() { close(c.quit) })
	_ = c.ws.NetConn().Close()
	<-c.done
}

func (c *client) sendRaw(typ int, data []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.ws.SetWriteDeadline(time.Now().Add(waitFor))
	return c.ws.WriteMessage(typ, data)
}

// send writes v (a JSON string when it is one, else marshalled) as a text frame.
func (c *client) send(v any) {
	c.t.Helper()
	var data []byte
	switch x := v.(type) {
	case string:
		data = []byte(x)
	case []byte:
		data = x
	default:
		var err error
		if data, err = json.Marshal(v); err != nil {
			c.t.Fatal(err)
		}
	}
	if err := c.sendRaw(websocket.TextMessage, data); err != nil {
		c.t.Fatalf("send %s: %v", data, err)
	}
}

// next returns the next frame or fails.
func (c *client) next() frame {
	c.t.Helper()
	select {
	case f, ok := <-c.frames:
		if !ok {
			c.t.Fatalf("connection ended: %v", c.err)
		}
		return f
	case <-time.After(waitFor):
		c.t.Fatalf("no frame within %v", waitFor)
	}
	return frame{}
}

// await returns the first frame of type typ, and the frames skipped.
func (c *client) await(typ string) (frame, []frame) {
	c.t.Helper()
	var skipped []frame
	for {
		f := c.next()
		if f.Type == typ {
			return f, skipped
		}
		skipped = append(skipped, f)
	}
}

// barrier sends a frame that the server answers with an error echoing a
// fresh id, and returns every frame received before that answer. Frames of
// one connection are handled in order and every engine event caused by
// an earlier frame is queued before the answer, so the result is all
// that the earlier frames produced.
func (c *client) barrier() []frame {
	c.t.Helper()
	id := fmt.Sprintf("sync-%d", c.syncN.Add(1))
	c.send(fmt.Sprintf(`{"type":"bb-sync","id":%q}`, id))
	var got []frame
	for {
		f := c.next()
		if f.Type == "error" && f.ref() == id {
			if f.Code != "invalid_argument" {
				c.t.Fatalf("barrier answered with %s", f.Raw)
			}
			return got
		}
		got = append(got, f)
	}
}

// closeCode waits for the server to end the connection and returns the
// close code it sent (1006 when none).
func (c *client) closeCode() int {
	c.t.Helper()
	deadline := time.After(waitFor)
	for {
		select {
		case _, ok := <-c.frames:
			if !ok {
				if ce, ok := c.err.(*websocket.CloseError); ok {
					return ce.Code
				}
				return websocket.CloseAbnormalClosure
			}
		case <-deadline:
			c.t.Fatalf("connection still open after %v", waitFor)
		}
	}
}

// isOpen reports whether the connection is open: a barrier round trip
// succeeds.
func (c *client) isOpen() bool {
	id := fmt.Sprintf("open-%d", c.syncN.Add(1))
	if err := c.sendRaw(websocket.TextMessage, []byte(fmt.Sprintf(`{"type":"bb-sync","id":%q}`, id))); err != nil {
		return false
	}
	deadline := time.After(waitFor)
	for {
		select {
		case f, ok := <-c.frames:
			if !ok {
				return false
			}
			if f.Type == "error" && f.ref() == id {
				return true
			}
		case <-deadline:
			return false
		}
	}
}

// driver is a connected driver app.
type driver struct {
	*client
	id      string
	welcome frame
	lastTS  int64
	lat     float64
	lon     float64
}

// dialDriver connects driver id in open mode and reads its welcome.
func dialDriver(t testing.TB, base, id string) *driver {
	t.Helper()
	c, res, err := dialWS(t, base, "/v1/driver/ws?driver_id="+url.QueryEscape(id), nil)
	if err != nil {
		t.Fatalf("dial driver %s: %v (%v)", id, err, res)
	}
	w := c.next()
	if w.Type != "welcome" || w.DriverID != id {
		t.Fatalf("driver %s: first frame %s, want welcome", id, w.Raw)
	}
	return &driver{client: c, id: id, welcome: w}
}

// goOnline connects driver id metresNorth of the pickup and waits until
// its fix is ingested.
func goOnline(t testing.TB, base, id string, metresNorth float64) *driver {
	t.Helper()
	d := dialDriver(t, base, id)
	if d.welcome.Status != "available" {
		t.Fatalf("driver %s welcome: %s", id, d.welcome.Raw)
	}
	d.moveTo(pickupLat+metresNorth/111195, pickupLon)
	if fs := d.barrier(); len(fs) != 0 {
		t.Fatalf("driver %s: unexpected frames after a valid fix: %v", id, raws(fs))
	}
	return d
}

// moveTo sends a valid fix with a ts after the previous one.
func (d *driver) moveTo(lat, lon float64) {
	ts := time.Now().UnixMilli()
	if ts <= d.lastTS {
		ts = d.lastTS + 1
	}
	d.lastTS, d.lat, d.lon = ts, lat, lon
	d.send(map[string]any{"type": "location", "lat": lat, "lon": lon, "ts": ts})
}

// awaitOffer returns the offer of ride rideID.
func (d *driver) awaitOffer(rideID string) frame {
	d.t.Helper()
	for {
		f, _ := d.await("offer")
		if f.RideID == rideID {
			return f
		}
	}
}

func raws(fs []frame) []string {
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = f.Raw
	}
	return out
}

func countType(fs []frame, typ string) int {
	n := 0
	for _, f := range fs {
		if f.Type == typ {
			n++
		}
	}
	return n
}

// freshWelcome opens a new connection for driver id (replacing any other)
// and returns its welcome.
func freshWelcome(t testing.TB, base, id string) *driver {
	t.Helper()
	return dialDriver(t, base, id)
}

// dialRider follows ride rideID as rider and reads the snapshot.
func dialRider(t testing.TB, base, rideID, rider string) (*client, frame) {
	t.Helper()
	c, res, err := dialWS(t, base, "/v1/rider/ws?ride_id="+url.QueryEscape(rideID)+"&rider_id="+url.QueryEscape(rider), nil)
	if err != nil {
		t.Fatalf("dial rider: %v (%v)", err, res)
	}
	f := c.next()
	if f.Type != "ride" || f.Ride == nil || f.Ride.ID != rideID {
		t.Fatalf("rider snapshot: %s", f.Raw)
	}
	return c, f
}

// handshakeError checks a refused WebSocket handshake.
func handshakeError(t testing.TB, what string, res *http.Response, err error, status int, code string) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: handshake succeeded, want %d", what, status)
		return
	}
	if res == nil {
		t.Errorf("%s: %v (no HTTP response)", what, err)
		return
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	wantError(t, what, resp{status: res.StatusCode, header: res.Header, body: b}, status, code)
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }
