package blackbox_test

import (
	"fmt"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"golang.org/x/time/rate"

	"github.com/ridehail/dispatch/internal/server"
	"github.com/ridehail/dispatch/realtime"
)

// badFrame is a driver frame that must be answered with one error frame
// of code, whose ref is ref ("*": any), leaving the connection open and
// the driver's state unchanged.
type badFrame struct {
	name, frame, code, ref string
}

// driverBadFrames builds the table; now is a ts close to the server's
// clock and last the ts of the driver's last accepted fix.
func driverBadFrames(now, last int64) []badFrame {
	loc := func(extra string) string {
		return fmt.Sprintf(`{"type":"location","lat":37.78,"lon":-122.42,"ts":%d%s}`, now, extra)
	}
	locTS := func(ts string) string {
		return `{"type":"location","lat":37.7758,"lon":-122.4194,"ts":` + ts + `}`
	}
	inv := "invalid_argument"
	long := strings.Repeat("o", 129)
	return []badFrame{
		{"not json", `hello`, inv, "*"},
		{"empty", ``, inv, "*"},
		{"whitespace", "  \n ", inv, "*"},
		{"array", `[]`, inv, "*"},
		{"null", `null`, inv, "*"},
		{"string", `"location"`, inv, "*"},
		{"number", `42`, inv, "*"},
		{"truncated", `{"type":"location","lat":37.7`, inv, "*"},
		{"two values", `{"type":"status","status":"offline"}{"type":"status","status":"offline"}`, inv, "*"},
		{"empty object", `{}`, inv, "*"},
		{"type number", `{"type":5}`, inv, "*"},
		{"type null", `{"type":null}`, inv, "*"},
		{"type empty", `{"type":""}`, inv, "*"},
		{"unknown type", `{"type":"teleport"}`, inv, "teleport"},
		{"unknown type with id", `{"type":"teleport","id":"t-1"}`, inv, "t-1"},
		{"server type sent back", `{"type":"offer","offer_id":"x.1"}`, inv, "offer"},
		{"type case", `{"type":"LOCATION","lat":37.78,"lon":-122.42,"ts":1}`, inv, "LOCATION"},
		{"id number", `{"type":"status","status":"offline","id":7}`, inv, "*"},
		{"id too long", `{"type":"status","status":"offline","id":"` + long + `"}`, inv, "*"},
		{"dup type", `{"type":"status","type":"teleport","status":"offline"}`, inv, "teleport"},

		{"location empty", `{"type":"location"}`, inv, "location"},
		{"location no lat", fmt.Sprintf(`{"type":"location","lon":-122.42,"ts":%d,"id":"l1"}`, now), inv, "l1"},
		{"location no lon", fmt.Sprintf(`{"type":"location","lat":37.78,"ts":%d}`, now), inv, "location"},
		{"location no ts", `{"type":"location","lat":37.78,"lon":-122.42}`, inv, "location"},
		{"lat null", fmt.Sprintf(`{"type":"location","lat":null,"lon":-122.42,"ts":%d}`, now), inv, "location"},
		{"lat string", fmt.Sprintf(`{"type":"location","lat":"37.78","lon":-122.42,"ts":%d}`, now), inv, "location"},
		{"lat bool", fmt.Sprintf(`{"type":"location","lat":true,"lon":-122.42,"ts":%d}`, now), inv, "location"},
		{"lat array", fmt.Sprintf(`{"type":"location","lat":[37.78],"lon":-122.42,"ts":%d}`, now), inv, "location"},
		{"lat 91", fmt.Sprintf(`{"type":"location","lat":91,"lon":-122.42,"ts":%d}`, now), inv, "location"},
		{"lat -90.5", fmt.Sprintf(`{"type":"location","lat":-90.5,"lon":-122.42,"ts":%d}`, now), inv, "location"},
		{"lat beyond GEO", fmt.Sprintf(`{"type":"location","lat":85.06,"lon":-122.42,"ts":%d}`, now), inv, "location"},
		{"lat -beyond GEO", fmt.Sprintf(`{"type":"location","lat":-85.052,"lon":-122.42,"ts":%d}`, now), inv, "location"},
		{"lon 181", fmt.Sprintf(`{"type":"location","lat":37.78,"lon":181,"ts":%d}`, now), inv, "location"},
		{"lon -180.5", fmt.Sprintf(`{"type":"location","lat":37.78,"lon":-180.5,"ts":%d}`, now), inv, "location"},
		{"lat 1e400", fmt.Sprintf(`{"type":"location","lat":1e400,"lon":-122.42,"ts":%d}`, now), inv, "location"},
		{"lat NaN", fmt.Sprintf(`{"type":"location","lat":NaN,"lon":-122.42,"ts":%d}`, now), inv, "*"},
		{"null island", fmt.Sprintf(`{"type":"location","lat":0,"lon":0,"ts":%d}`, now), inv, "location"},
		{"ts 0", locTS("0"), inv, "location"},
		{"ts negative", locTS("-5"), inv, "location"},
		{"ts fraction", locTS("1700000000000.5"), inv, "location"},
		{"ts string", locTS(`"1700000000000"`), inv, "location"},
		{"ts 1e30", locTS("1e30"), inv, "location"},
		{"ts beyond int64", locTS("9223372036854775808"), inv, "location"},
		{"ts 10 min ahead", locTS(fmt.Sprint(now + 10*60*1000)), inv, "location"},
		{"ts seconds not ms", locTS(fmt.Sprint(now / 1000)), "stale_fix", "location"},
		{"ts older", locTS(fmt.Sprint(last - 1)), "stale_fix", "location"},
		{"jump 111 km in 1 s", fmt.Sprintf(`{"type":"location","lat":38.78,"lon":-122.4194,"ts":%d}`, last+1000), inv, "location"},
		{"heading 361", loc(`,"heading":361`), inv, "location"},
		{"heading -1", loc(`,"heading":-1`), inv, "location"},
		{"heading string", loc(`,"heading":"N"`), inv, "location"},
		{"speed -1", loc(`,"speed":-1`), inv, "location"},
		{"speed 1001", loc(`,"speed":1001`), inv, "location"},
		{"accuracy -1", loc(`,"accuracy":-1`), inv, "location"},
		{"accuracy 1e400", loc(`,"accuracy":1e400`), inv, "location"},

		{"locations empty", `{"type":"locations"}`, inv, "locations"},
		{"points null", `{"type":"locations","points":null}`, inv, "locations"},
		{"points []", `{"type":"locations","points":[]}`, inv, "locations"},
		{"points object", `{"type":"locations","points":{}}`, inv, "locations"},
		{"points [1]", `{"type":"locations","points":[1]}`, inv, "locations"},
		{"points [null]", `{"type":"locations","points":[null]}`, inv, "locations"},
		{"points [{}]", `{"type":"locations","points":[{}]}`, inv, "locations"},
		{"points lat 91", fmt.Sprintf(`{"type":"locations","points":[{"lat":91,"lon":0,"ts":%d}],"id":"b1"}`, now), inv, "b1"},

		{"status empty", `{"type":"status"}`, inv, "status"},
		{"status busy", `{"type":"status","status":"busy"}`, inv, "status"},
		{"status on_trip", `{"type":"status","status":"on_trip"}`, inv, "status"},
		{"status reserved", `{"type":"status","status":"reserved"}`, inv, "status"},
		{"status case", `{"type":"status","status":"OFFLINE"}`, inv, "status"},
		{"status number", `{"type":"status","status":0}`, inv, "status"},
		{"status null", `{"type":"status","status":null}`, inv, "status"},

		{"accept empty", `{"type":"accept"}`, inv, "accept"},
		{"accept blank", `{"type":"accept","offer_id":""}`, inv, "accept"},
		{"accept number", `{"type":"accept","offer_id":5}`, inv, "accept"},
		{"accept long", `{"type":"accept","offer_id":"` + long + `"}`, inv, "accept"},
		{"accept unknown", `{"type":"accept","offer_id":"no-such-ride.1","id":"a1"}`, "not_found", "a1"},
		{"accept no seq", `{"type":"accept","offer_id":"nodot"}`, "not_found", "accept"},
		{"accept dot", `{"type":"accept","offer_id":"."}`, "not_found", "accept"},
		{"decline empty", `{"type":"decline"}`, inv, "decline"},
		{"decline unknown", `{"type":"decline","offer_id":"no-such-ride.9"}`, "not_found", "decline"},

		{"arrived empty", `{"type":"arrived"}`, inv, "arrived"},
		{"arrived number", `{"type":"arrived","ride_id":1}`, inv, "arrived"},
		{"arrived unknown", `{"type":"arrived","ride_id":"nope"}`, "not_found", "arrived"},
		{"start unknown", `{"type":"start","ride_id":"nope","id":"s1"}`, "not_found", "s1"},
		{"complete unknown", `{"type":"complete","ride_id":"nope"}`, "not_found", "complete"},
		{"complete distance -1", `{"type":"complete","ride_id":"nope","distance_m":-1}`, inv, "complete"},
		{"complete distance 1e8", `{"type":"complete","ride_id":"nope","distance_m":1e8}`, inv, "complete"},
		{"complete distance string", `{"type":"complete","ride_id":"nope","distance_m":"5"}`, inv, "complete"},
		{"cancel empty", `{"type":"cancel"}`, inv, "cancel"},
		{"cancel unknown", `{"type":"cancel","ride_id":"nope"}`, "not_found", "cancel"},
		{"cancel long", `{"type":"cancel","ride_id":"` + long + `"}`, inv, "cancel"},
	}
}

// TestWSDriverBadFrames sends every malformed driver frame on one
// connection: each gets exactly one error frame with the documented code
// and ref, the connection stays open, and the driver's position and status
// do not change. A valid frame then still works.
func TestWSDriverBadFrames(t *testing.T) {
	srv := start(t, server.Config{})
	base := srv.URL()
	d := goOnline(t, base, "bad", 100)
	lat0 := d.lat
	for _, bf := range driverBadFrames(time.Now().UnixMilli(), d.lastTS) {
		d.send(bf.frame)
		got := d.barrier()
		if len(got) != 1 || got[0].Type != "error" {
			t.Errorf("%s: %s: got %v, want one error frame", bf.name, bf.frame, raws(got))
			continue
		}
		e := got[0]
		if e.Code != bf.code || e.Message == "" || e.Ref == nil || (bf.ref != "*" && e.ref() != bf.ref) {
			t.Errorf("%s: %s: got %s, want code %s ref %q", bf.name, bf.frame, e.Raw, bf.code, bf.ref)
		}
	}
	// Binary frames are refused even when they hold a valid fix.
	bin := fmt.Sprintf(`{"type":"location","lat":37.79,"lon":-122.42,"ts":%d}`, time.Now().UnixMilli())
	if err := d.sendRaw(websocket.BinaryMessage, []byte(bin)); err != nil {
		t.Fatal(err)
	}
	if got := d.barrier(); len(got) != 1 || got[0].Code != "invalid_argument" {
		t.Errorf("binary frame: %v", raws(got))
	}
	// Nothing moved, nothing went offline.
	n := nearbyIDs(t, base)
	if p, ok := n["bad"]; !ok || math.Abs(p.Lat-lat0) > 1e-9 {
		t.Fatalf("driver after bad frames: %+v, want at lat %v", n, lat0)
	}
	// A valid frame still works.
	d.moveTo(lat0+0.0005, pickupLon) // 55 m: within GPS jitter whatever the time
	if got := d.barrier(); len(got) != 0 {
		t.Fatalf("valid fix answered: %v", raws(got))
	}
	if p := nearbyIDs(t, base)["bad"]; math.Abs(p.Lat-(lat0+0.0005)) > 1e-9 {
		t.Fatalf("valid fix not applied: %+v", p)
	}
	r := requestRide(t, base, "alice")
	d.awaitOffer(r.ID)
}

// TestWSLocationsBatch checks a batch's stale and rejected fixes are
// reported in one error each and the rest is applied in ts order.
func TestWSLocationsBatch(t *testing.T) {
	srv := start(t, server.Config{})
	base := srv.URL()
	d := goOnline(t, base, "batch", 100)
	t0 := d.lastTS
	lat := d.lat
	// Out of order, two older than the last fix, one null island.
	d.send(fmt.Sprintf(`{"type":"locations","id":"B","points":[
		{"lat":%v,"lon":%v,"ts":%d},{"lat":%v,"lon":%v,"ts":%d},
		{"lat":%v,"lon":%v,"ts":%d},{"lat":0,"lon":0,"ts":%d},{"lat":%v,"lon":%v,"ts":%d}]}`,
		lat+0.0003, pickupLon, t0+3000, lat+0.0001, pickupLon, t0+1000,
		lat, pickupLon, t0-5000, t0+1500, lat, pickupLon, t0-4000))
	got := d.barrier()
	var stale, rejected int
	for _, f := range got {
		switch {
		case f.Type == "error" && f.Code == "stale_fix" && f.ref() == "B":
			stale++
		case f.Type == "error" && f.Code == "invalid_argument" && f.ref() == "B":
			rejected++
		default:
			t.Errorf("unexpected frame %s", f.Raw)
		}
	}
	if stale != 1 || rejected != 1 {
		t.Errorf("batch replies: %v, want one stale_fix and one invalid_argument", raws(got))
	}
	if p := nearbyIDs(t, base)["batch"]; math.Abs(p.Lat-(lat+0.0003)) > 1e-9 {
		t.Errorf("batch not applied up to the newest fix: %+v", p)
	}
}

// TestWSRiderFrames: riders send nothing; every frame is answered with
// invalid_argument and the socket stays open for the ride's updates.
func TestWSRiderFrames(t *testing.T) {
	srv := start(t, server.Config{})
	base := srv.URL()
	r := requestRide(t, base, "alice")
	c, _ := dialRider(t, base, r.ID, "alice")
	frames := []string{`hello`, ``, `{}`, `{"type":"cancel","ride_id":"` + r.ID + `"}`, `{"type":"location","lat":1,"lon":1,"ts":1}`, `[1,2]`, `{"type":"x","id":"r-1"}`}
	for _, fr := range frames {
		c.send(fr)
		f := c.next()
		if f.Type != "error" || f.Code != "invalid_argument" || f.Ref == nil {
			t.Errorf("rider frame %q: %s", fr, f.Raw)
		}
	}
	if err := c.sendRaw(websocket.BinaryMessage, []byte{0, 1, 2}); err != nil {
		t.Fatal(err)
	}
	if f := c.next(); f.Type != "error" || f.Code != "invalid_argument" {
		t.Errorf("binary rider frame: %s", f.Raw)
	}
	if g := getRide(t, base, r.ID); g.Status != "matching" || g.Version != r.Version {
		t.Errorf("rider frames changed the ride: %+v", g)
	}
	decodeRide(t, "cancel", do(t, "POST", base+"/v1/rides/"+r.ID+"/cancel?rider_id=alice", ""), http.StatusOK)
	f, _ := c.await("ride")
	if f.Ride == nil || f.Ride.Status != "cancelled" || f.Ride.CancelledBy != "rider" {
		t.Errorf("ride frame after cancel: %s", f.Raw)
	}
	// The socket stays open after the terminal status.
	c.send(`{"type":"ping","id":"still"}`)
	if f := c.next(); f.Type != "error" || f.ref() != "still" {
		t.Errorf("after terminal status: %s", f.Raw)
	}
}

// paddedFrame returns a valid status frame of exactly n bytes.
func paddedFrame(n int) string {
	head := `{"type":"status","status":"available","pad":"`
	return head + strings.Repeat("p", n-len(head)-2) + `"}`
}

// TestWSFrameSizeLimit: 4096 bytes pass, 4097 close with 1009, on both
// endpoints.
func TestWSFrameSizeLimit(t *testing.T) {
	srv := start(t, server.Config{})
	base := srv.URL()
	d := goOnline(t, base, "big", 100)
	f := paddedFrame(4096)
	if len(f) != 4096 {
		t.Fatalf("frame is %d bytes", len(f))
	}
	d.send(f)
	if got := d.barrier(); len(got) != 0 {
		t.Fatalf("4096-byte valid frame: %v", raws(got))
	}
	d.send(paddedFrame(4097))
	if code := d.closeCode(); code != realtime.CloseTooBig {
		t.Errorf("4097-byte frame: close %d, want %d", code, realtime.CloseTooBig)
	}
	r := requestRide(t, base, "alice")
	c, _ := dialRider(t, base, r.ID, "alice")
	c.send(strings.Repeat("x", 5000))
	if code := c.closeCode(); code != realtime.CloseTooBig {
		t.Errorf("rider 5000-byte frame: close %d, want %d", code, realtime.CloseTooBig)
	}
	// The oversized driver went offline like any gone driver.
	eventually(t, "big driver gone from nearby", func() bool { _, ok := nearbyIDs(t, base)["big"]; return !ok })
}

// TestWSFlood: frames beyond the rate are refused with rate_limited and
// the connection stays open; FloodLimit refused frames in a row close it
// with 1008.
func TestWSFlood(t *testing.T) {
	srv := start(t, server.Config{Hub: realtime.HubConfig{FrameRate: rate.Limit(0.001), FrameBurst: 3, FloodLimit: 10}})
	base := srv.URL()
	c, res, err := dialWS(t, base, "/v1/driver/ws?driver_id=flood", nil)
	if err != nil {
		t.Fatalf("dial: %v %v", err, res)
	}
	if w := c.next(); w.Type != "welcome" {
		t.Fatalf("welcome: %s", w.Raw)
	}
	for i := 0; i < 3+9; i++ {
		c.send(fmt.Sprintf(`{"type":"status","status":"available","id":"f%d"}`, i))
	}
	for i := 3; i < 12; i++ {
		f := c.next()
		if f.Type != "error" || f.Code != "rate_limited" || f.ref() != fmt.Sprintf("f%d", i) {
			t.Fatalf("frame %d: %s, want rate_limited", i, f.Raw)
		}
	}
	// Nine refused in a row were answered; the tenth closes with 1008.
	c.send(`{"type":"status","status":"available","id":"f12"}`)
	if code := c.closeCode(); code != realtime.ClosePolicyViolation {
		t.Errorf("flood: close %d, want %d", code, realtime.ClosePolicyViolation)
	}
}

// TestWSRateLimitedStaysOpen: a client that bursts a little over the rate
// gets rate_limited errors, stays connected and is served once it slows
// down.
func TestWSRateLimitedStaysOpen(t *testing.T) {
	srv := start(t, server.Config{Hub: realtime.HubConfig{FrameRate: 50, FrameBurst: 2, FloodLimit: 1000}})
	base := srv.URL()
	c, res, err := dialWS(t, base, "/v1/driver/ws?driver_id=burst", nil)
	if err != nil {
		t.Fatalf("dial: %v %v", err, res)
	}
	c.next() // welcome
	const n = 200
	for i := 0; i < n; i++ {
		c.send(fmt.Sprintf(`{"type":"teleport","id":"b%d"}`, i))
	}
	limited := 0
	for i := 0; i < n; i++ {
		f := c.next()
		if f.Type != "error" || f.ref() != fmt.Sprintf("b%d", i) {
			t.Fatalf("reply %d: %s", i, f.Raw)
		}
		if f.Code == "rate_limited" {
			limited++
		} else if f.Code != "invalid_argument" {
			t.Fatalf("reply %d: %s", i, f.Raw)
		}
	}
	if limited == 0 {
		t.Fatalf("no frame was rate limited")
	}
	// Served again once the client slows down.
	eventually(t, "served after slowing down", func() bool {
		c.send(`{"type":"teleport","id":"probe"}`)
		f := c.next()
		return f.Code == "invalid_argument" && f.ref() == "probe"
	})
}

// TestWSHandshakeRefusals checks the refusals made before the upgrade in
// the open mode.
func TestWSHandshakeRefusals(t *testing.T) {
	srv := start(t, server.Config{AllowedOrigins: []string{"https://app.example.com"}})
	base := srv.URL()
	r := requestRide(t, base, "alice")
	cases := []struct {
		name, path string
		hdr        http.Header
		status     int
		code       string
	}{
		{"driver without id", "/v1/driver/ws", nil, 401, "unauthenticated"},
		{"driver empty id", "/v1/driver/ws?driver_id=", nil, 401, "unauthenticated"},
		{"driver id too long", "/v1/driver/ws?driver_id=" + strings.Repeat("d", 129), nil, 401, "unauthenticated"},
		{"rider id on driver socket", "/v1/driver/ws?rider_id=alice", nil, 401, "unauthenticated"},
		{"rider without ride", "/v1/rider/ws?rider_id=alice", nil, 400, "invalid_argument"},
		{"rider ride too long", "/v1/rider/ws?rider_id=alice&ride_id=" + strings.Repeat("r", 129), nil, 400, "invalid_argument"},
		{"rider unknown ride", "/v1/rider/ws?rider_id=alice&ride_id=nope", nil, 404, "not_found"},
		{"rider another's ride", "/v1/rider/ws?rider_id=mallory&ride_id=" + r.ID, nil, 404, "not_found"},
		{"driver on rider socket", "/v1/rider/ws?driver_id=d1&ride_id=" + r.ID, nil, 401, "unauthenticated"},
		{"rider without id", "/v1/rider/ws?ride_id=" + r.ID, nil, 401, "unauthenticated"},
		{"foreign origin", "/v1/driver/ws?driver_id=d1", http.Header{"Origin": {"https://evil.example.com"}}, 403, "permission_denied"},
		{"null origin", "/v1/driver/ws?driver_id=d1", http.Header{"Origin": {"null"}}, 403, "permission_denied"},
		{"lookalike origin", "/v1/driver/ws?driver_id=d1", http.Header{"Origin": {"https://app.example.com.evil.com"}}, 403, "permission_denied"},
	}
	for _, c := range cases {
		_, res, err := dialWS(t, base, c.path, c.hdr)
		handshakeError(t, c.name, res, err, c.status, c.code)
	}
	// Allowed origins work.
	for _, o := range []string{"https://app.example.com", "HTTPS://APP.EXAMPLE.COM", base} {
		c, res, err := dialWS(t, base, "/v1/driver/ws?driver_id=o1", http.Header{"Origin": {o}})
		if err != nil {
			t.Errorf("origin %s: %v %v", o, err, res)
			continue
		}
		if w := c.next(); w.Type != "welcome" {
			t.Errorf("origin %s: %s", o, w.Raw)
		}
		c.close()
	}
	// Not a handshake, and wrong methods.
	wantError(t, "plain GET", do(t, "GET", base+"/v1/driver/ws?driver_id=d1", ""), 400, "invalid_argument")
	for _, m := range []string{"POST", "PUT", "DELETE"} {
		wantError(t, m+" driver ws", do(t, m, base+"/v1/driver/ws?driver_id=d1", ""), 405, "invalid_argument")
		wantError(t, m+" rider ws", do(t, m, base+"/v1/rider/ws?rider_id=alice&ride_id="+r.ID, ""), 405, "invalid_argument")
	}
}

// TestWSSilentClientDropped: a client that answers no ping is dropped
// after PongWait and, as a vanished driver, goes offline.
func TestWSSilentClientDropped(t *testing.T) {
	srv := start(t, server.Config{Hub: realtime.HubConfig{PingPeriod: 50 * time.Millisecond, PongWait: 400 * time.Millisecond}})
	base := srv.URL()
	d, res, err := dialWS(t, base, "/v1/driver/ws?driver_id=mute", nil, func(ws *websocket.Conn) {
		ws.SetPingHandler(func(string) error { return nil }) // never pong
	})
	if err != nil {
		t.Fatalf("dial: %v %v", err, res)
	}
	if w := d.next(); w.Type != "welcome" {
		t.Fatalf("welcome: %s", w.Raw)
	}
	d.send(fmt.Sprintf(`{"type":"location","lat":%v,"lon":%v,"ts":%d}`, pickupLat+0.001, pickupLon, time.Now().UnixMilli()))
	if got := d.barrier(); len(got) != 0 {
		t.Fatalf("fix answered: %v", raws(got))
	}
	if code := d.closeCode(); code != websocket.CloseAbnormalClosure {
		t.Errorf("silent client: close %d, want the socket dropped (1006)", code)
	}
	eventually(t, "silent driver offline", func() bool { _, ok := nearbyIDs(t, base)["mute"]; return !ok })
	// A client that sends nothing but answers pings stays: the property
	// is observed over 2.5 PongWaits (this wait is the observation, not a
	// synchronisation).
	d2 := goOnline(t, base, "chatty", 100)
	time.Sleep(time.Second)
	if !d2.isOpen() {
		t.Fatal("a client answering pings was dropped")
	}
}
