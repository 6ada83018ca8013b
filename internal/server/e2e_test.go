package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ridehail/dispatch/internal/server"
	"github.com/ridehail/dispatch/realtime"
)

func startServer(t *testing.T, cfg server.Config) *server.Server {
	t.Helper()
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	if cfg.Hub.FrameRate == 0 {
		cfg.Hub.FrameRate, cfg.Hub.FrameBurst = 1000, 1000
	}
	srv, err := server.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := srv.Shutdown(context.Background()); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return srv
}

// next returns the next message of type typ, skipping others, or fails
// after a deadline.
func next(t *testing.T, c *realtime.Client, typ string) realtime.Message {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case m, ok := <-c.Messages():
			if !ok {
				t.Fatalf("connection closed while waiting for %s: %v", typ, c.Err())
			}
			if m.Type == typ {
				return m
			}
		case <-deadline:
			t.Fatalf("no %s message within 10s", typ)
		}
	}
}

type rideJSON struct {
	ID       string `json:"id"`
	Status   string `json:"status"`
	RiderID  string `json:"rider_id"`
	DriverID string `json:"driver_id"`
	Fare     struct {
		Amount   int64  `json:"amount"`
		Currency string `json:"currency"`
	} `json:"fare"`
	FinalFare *struct {
		Amount int64 `json:"amount"`
	} `json:"final_fare"`
}

func doJSON(t *testing.T, method, url, body string, hdr map[string]string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

const tripBody = `{"pickup":{"lat":37.7749,"lon":-122.4194},"dropoff":{"lat":37.8044,"lon":-122.2712}}`

func requestRide(t *testing.T, base, rider string) rideJSON {
	t.Helper()
	code, b := doJSON(t, "POST", base+"/v1/rides?rider_id="+rider, tripBody, nil)
	if code != http.StatusCreated {
		t.Fatalf("POST /v1/rides: %d %s", code, b)
	}
	var r rideJSON
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	return r
}

func dialDriver(t *testing.T, base, id string, metresNorth float64) *realtime.Client {
	t.Helper()
	c, err := realtime.DialDriver(context.Background(), base, id, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	w := next(t, c, "welcome")
	var welcome struct {
		DriverID string `json:"driver_id"`
		Status   string `json:"status"`
	}
	if err := w.Decode(&welcome); err != nil || welcome.DriverID != id || welcome.Status != "available" {
		t.Fatalf("welcome: %s %v", w.Raw, err)
	}
	sendFix(t, c, metresNorth)
	return c
}

func sendFix(t *testing.T, c *realtime.Client, metresNorth float64) {
	t.Helper()
	err := c.Send(context.Background(), map[string]any{"type": "location", "lat": 37.7749 + metresNorth/111195, "lon": -122.4194, "ts": time.Now().UnixMilli()})
	if err != nil {
		t.Fatal(err)
	}
}

// TestEndToEnd runs the whole flow over real sockets: drivers stream
// fixes, a rider requests and follows a ride, ten drivers accept it at
// the same instant (a hundred times: exactly one wins each time), and the
// winner drives the trip to completion.
func TestEndToEnd(t *testing.T) {
	srv := startServer(t, server.Config{})
	base := srv.URL()
	const n = 10
	drivers := make([]*realtime.Client, n)
	for i := range drivers {
		drivers[i] = dialDriver(t, base, fmt.Sprint("d", i), float64(100*(i+1)))
	}
	// Wait until all ten are indexed.
	deadline := time.Now().Add(5 * time.Second)
	for {
		code, b := doJSON(t, "GET", base+"/v1/drivers/nearby?lat=37.7749&lon=-122.4194&radius_m=3000&limit=20", "", nil)
		var near struct {
			Drivers []struct {
				ID        string  `json:"id"`
				DistanceM float64 `json:"distance_m"`
			} `json:"drivers"`
		}
		_ = json.Unmarshal(b, &near)
		if code == 200 && len(near.Drivers) == n {
			if near.Drivers[0].ID != "d0" || near.Drivers[0].DistanceM < 99 || near.Drivers[0].DistanceM > 101 {
				t.Fatalf("nearby order: %s", b)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("nearby: %d %s", code, b)
		}
		time.Sleep(10 * time.Millisecond)
	}

	for round := 0; round < 100; round++ {
		ride := requestRide(t, base, fmt.Sprint("rider", round))
		if ride.Status != "matching" || ride.Fare.Amount <= 0 || ride.Fare.Currency == "" {
			t.Fatalf("ride: %+v", ride)
		}
		offers := make([]string, n)
		for i, c := range drivers {
			var o struct {
				OfferID string `json:"offer_id"`
				RideID  string `json:"ride_id"`
			}
			m := next(t, c, "offer")
			if err := m.Decode(&o); err != nil || o.RideID != ride.ID {
				t.Fatalf("round %d driver %d offer: %s", round, i, m.Raw)
			}
			offers[i] = o.OfferID
		}
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i, c := range drivers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				if err := c.Send(context.Background(), map[string]any{"type": "accept", "offer_id": offers[i]}); err != nil {
					t.Error(err)
				}
			}()
		}
		close(start)
		wg.Wait()
		winners, taken := 0, 0
		winner := -1
		for i, c := range drivers {
			m := nextOf(t, c, "assigned", "offer_revoked")
			switch m.Type {
			case "assigned":
				winners++
				winner = i
			case "offer_revoked":
				var rv struct {
					Reason string `json:"reason"`
				}
				_ = m.Decode(&rv)
				if rv.Reason != "taken" {
					t.Fatalf("revoked reason %q", rv.Reason)
				}
				taken++
			}
		}
		if winners != 1 || taken != n-1 {
			t.Fatalf("round %d: %d assigned, %d taken", round, winners, taken)
		}
		code, b := doJSON(t, "GET", base+"/v1/rides/"+ride.ID+"?rider_id="+ride.RiderID, "", nil)
		var got rideJSON
		_ = json.Unmarshal(b, &got)
		if code != 200 || got.Status != "assigned" || got.DriverID != fmt.Sprint("d", winner) {
			t.Fatalf("round %d ride: %d %s (winner d%d)", round, code, b, winner)
		}
		if round == 0 {
			driveTrip(t, base, drivers[winner], got, float64(100*(winner+1)-20))
			continue
		}
		code, b = doJSON(t, "POST", base+"/v1/rides/"+ride.ID+"/cancel?rider_id="+ride.RiderID, "", nil)
		if code != 200 {
			t.Fatalf("cancel: %d %s", code, b)
		}
		next(t, drivers[winner], "ride_cancelled")
		// Keep every driver fresh.
		if round%20 == 0 {
			for i, c := range drivers {
				sendFix(t, c, float64(100*(i+1)))
			}
		}
	}
	code, b := doJSON(t, "GET", base+"/metrics", "", nil)
	if code != 200 || !bytes.Contains(b, []byte("dispatch_rides_assigned_total 100")) {
		t.Fatalf("metrics: %d\n%s", code, grep(b, "dispatch_rides"))
	}
}

func grep(b []byte, s string) string {
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.Contains(l, s) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func nextOf(t *testing.T, c *realtime.Client, types ...string) realtime.Message {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case m, ok := <-c.Messages():
			if !ok {
				t.Fatalf("connection closed: %v", c.Err())
			}
			for _, typ := range types {
				if m.Type == typ {
					return m
				}
			}
		case <-deadline:
			t.Fatalf("none of %v within 10s", types)
		}
	}
}

// driveTrip follows the ride on the rider socket while the driver reports
// arrived, start and complete.
func driveTrip(t *testing.T, base string, d *realtime.Client, ride rideJSON, at float64) {
	t.Helper()
	rider, err := realtime.DialRider(context.Background(), base, ride.ID, ride.RiderID, "")
	if err != nil {
		t.Fatal(err)
	}
	defer rider.Close()
	snap := next(t, rider, "ride")
	var r struct{ Ride rideJSON }
	if err := snap.Decode(&r); err != nil || r.Ride.Status != "assigned" {
		t.Fatalf("snapshot: %s", snap.Raw)
	}
	sendFix(t, d, at)
	var loc struct {
		Lat  float64 `json:"lat"`
		ETAS float64 `json:"eta_s"`
	}
	if err := next(t, rider, "driver_location").Decode(&loc); err != nil || loc.Lat < 37.7749 || loc.ETAS <= 0 {
		t.Fatalf("driver_location: %+v %v", loc, err)
	}
	// Out of order: start before arrived is refused and changes nothing.
	if err := d.Send(context.Background(), map[string]any{"type": "start", "ride_id": ride.ID}); err != nil {
		t.Fatal(err)
	}
	var e struct {
		Code string `json:"code"`
		Ref  string `json:"ref"`
	}
	if err := next(t, d, "error").Decode(&e); err != nil || e.Code != "failed_precondition" {
		t.Fatalf("start before arrived: %+v", e)
	}
	for _, step := range []struct{ typ, status string }{{"arrived", "arrived"}, {"start", "in_progress"}, {"complete", "completed"}} {
		if err := d.Send(context.Background(), map[string]any{"type": step.typ, "ride_id": ride.ID}); err != nil {
			t.Fatal(err)
		}
		var got struct{ Ride rideJSON }
		for {
			if err := next(t, rider, "ride").Decode(&got); err != nil {
				t.Fatal(err)
			}
			if got.Ride.Status == step.status {
				break
			}
		}
		if step.status == "completed" && (got.Ride.FinalFare == nil || got.Ride.FinalFare.Amount <= 0) {
			t.Fatalf("completed without a final fare: %+v", got.Ride)
		}
	}
	code, b := doJSON(t, "POST", base+"/v1/rides/"+ride.ID+"/rating?rider_id="+ride.RiderID, `{"stars":5,"comment":"ok"}`, nil)
	if code != 200 {
		t.Fatalf("rating: %d %s", code, b)
	}
}

// TestHTTPBadInput checks that every class of bad input gets a 4xx with a
// JSON error and changes nothing.
func TestHTTPBadInput(t *testing.T) {
	srv := startServer(t, server.Config{})
	base := srv.URL()
	cases := []struct {
		name, method, path, body string
		status                   int
		code                     string
	}{
		{"lat out of range", "POST", "/v1/rides?rider_id=r", `{"pickup":{"lat":91,"lon":0},"dropoff":{"lat":0,"lon":0}}`, 400, "invalid_argument"},
		{"lon out of range", "POST", "/v1/quotes", `{"pickup":{"lat":0,"lon":-181},"dropoff":{"lat":0,"lon":0}}`, 400, "invalid_argument"},
		{"wrong type", "POST", "/v1/rides?rider_id=r", `{"pickup":{"lat":"x","lon":0},"dropoff":{"lat":0,"lon":0}}`, 400, "invalid_argument"},
		{"missing dropoff", "POST", "/v1/rides?rider_id=r", `{"pickup":{"lat":1,"lon":1}}`, 400, "invalid_argument"},
		{"missing lon", "POST", "/v1/quotes", `{"pickup":{"lat":1},"dropoff":{"lat":0,"lon":0}}`, 400, "invalid_argument"},
		{"truncated", "POST", "/v1/rides?rider_id=r", `{"pickup":{"lat":1,`, 400, "invalid_argument"},
		{"not json", "POST", "/v1/quotes", `hello`, 400, "invalid_argument"},
		{"empty body", "POST", "/v1/quotes", ``, 400, "invalid_argument"},
		{"array body", "POST", "/v1/quotes", `[1,2]`, 400, "invalid_argument"},
		{"too large", "POST", "/v1/quotes", `{"pickup":{"lat":1,"lon":1},"dropoff":{"lat":0,"lon":0},"pad":"` + strings.Repeat("x", 20000) + `"}`, 413, "payload_too_large"},
		{"no rider identity", "POST", "/v1/rides", tripBody, 401, "unauthenticated"},
		{"unknown ride", "GET", "/v1/rides/nope?rider_id=r", ``, 404, "not_found"},
		{"bad quote", "POST", "/v1/rides?rider_id=r", `{"pickup":{"lat":1,"lon":1},"dropoff":{"lat":1.01,"lon":1},"quote_id":"forged.x"}`, 400, "invalid_argument"},
		{"stars out of range", "POST", "/v1/rides/nope/rating?rider_id=r", `{"stars":6}`, 400, "invalid_argument"},
		{"stars not int", "POST", "/v1/rides/nope/rating?rider_id=r", `{"stars":4.5}`, 400, "invalid_argument"},
		{"nearby missing lat", "GET", "/v1/drivers/nearby?lon=1", ``, 400, "invalid_argument"},
		{"nearby bad radius", "GET", "/v1/drivers/nearby?lat=1&lon=1&radius_m=-5", ``, 400, "invalid_argument"},
		{"nearby NaN", "GET", "/v1/drivers/nearby?lat=NaN&lon=1", ``, 400, "invalid_argument"},
		{"unknown route", "GET", "/v1/nothing", ``, 404, "not_found"},
	}
	for _, c := range cases {
		code, b := doJSON(t, c.method, base+c.path, c.body, nil)
		var e struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		if err := json.Unmarshal(b, &e); err != nil || code != c.status || e.Error.Code != c.code || e.Error.Message == "" {
			t.Errorf("%s: got %d %s, want %d %s", c.name, code, b, c.status, c.code)
		}
	}
	if s := srv.Engine().Stats(); s.RidesRequested != 0 {
		t.Fatalf("rejected requests created rides: %+v", s)
	}
	// A quote, then a ride booked on it pays the quoted fare; replaying
	// the Idempotency-Key returns the same ride.
	code, b := doJSON(t, "POST", base+"/v1/quotes", tripBody, nil)
	var q struct {
		QuoteID string `json:"quote_id"`
		Fare    struct{ Amount int64 }
	}
	if err := json.Unmarshal(b, &q); err != nil || code != 200 || q.QuoteID == "" {
		t.Fatalf("quote: %d %s", code, b)
	}
	body := strings.TrimSuffix(tripBody, "}") + `,"quote_id":"` + q.QuoteID + `"}`
	hdr := map[string]string{"Idempotency-Key": "k1"}
	code1, b1 := doJSON(t, "POST", base+"/v1/rides?rider_id=r", body, hdr)
	code2, b2 := doJSON(t, "POST", base+"/v1/rides?rider_id=r", body, hdr)
	var r1, r2 rideJSON
	_ = json.Unmarshal(b1, &r1)
	_ = json.Unmarshal(b2, &r2)
	if code1 != 201 || code2 != 201 || r1.ID == "" || r1.ID != r2.ID || r1.Fare.Amount != q.Fare.Amount {
		t.Fatalf("idempotent quoted ride: %d %s / %d %s (quote %d)", code1, b1, code2, b2, q.Fare.Amount)
	}
}

var httpClient = &http.Client{Timeout: 5 * time.Second}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
