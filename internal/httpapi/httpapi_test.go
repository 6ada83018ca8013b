package httpapi_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/ridehail/dispatch/dispatch"
	"github.com/ridehail/dispatch/geo"
	"github.com/ridehail/dispatch/internal/auth"
	"github.com/ridehail/dispatch/internal/httpapi"
	"github.com/ridehail/dispatch/pricing"
)

// fakeEngine is a function-field fake of httpapi.Engine that records
// whether anything reached it.
type fakeEngine struct {
	calls int
}

func (f *fakeEngine) Quote(_ context.Context, p, d geo.Point) (pricing.Quote, error) {
	f.calls++
	return pricing.Quote{ID: "q", Fare: pricing.Money{Amount: 100, Currency: "USD"}}, nil
}

func (f *fakeEngine) RequestRide(_ context.Context, rider string, req dispatch.RideRequest, key string) (*dispatch.Ride, bool, error) {
	f.calls++
	return &dispatch.Ride{ID: "r1", Status: dispatch.RideMatching, RiderID: rider, Pickup: req.Pickup, Dropoff: req.Dropoff}, true, nil
}

func (f *fakeEngine) ReplayRide(context.Context, string, string) (*dispatch.Ride, bool, error) {
	return nil, false, nil
}

func (f *fakeEngine) GetRide(_ context.Context, a dispatch.Actor, id string) (*dispatch.Ride, error) {
	f.calls++
	return nil, dispatch.Errorf(dispatch.CodeNotFound, "ride %q not found", id)
}

func (f *fakeEngine) CancelRide(_ context.Context, a dispatch.Actor, id string) (*dispatch.Ride, error) {
	f.calls++
	return nil, dispatch.Errorf(dispatch.CodePrecondition, "cannot cancel")
}

func (f *fakeEngine) Rate(_ context.Context, a dispatch.Actor, id string, stars int, c string) (*dispatch.Ride, error) {
	f.calls++
	return &dispatch.Ride{ID: id}, nil
}

func (f *fakeEngine) Nearby(_ context.Context, c geo.Point, r float64, limit int) ([]dispatch.Candidate, error) {
	f.calls++
	return []dispatch.Candidate{{ID: "d1", Point: c, Distance: 12.345}}, nil
}

func newMux(eng httpapi.Engine) *http.ServeMux {
	mux := http.NewServeMux()
	httpapi.New(eng, auth.New(nil, nil), httpapi.Config{}).Register(mux)
	return mux
}

func serve(mux http.Handler, method, target, body string) (*httptest.ResponseRecorder, map[string]any) {
	w := httptest.NewRecorder()
	mux.ServeHTTP(w, httptest.NewRequest(method, target, strings.NewReader(body)))
	var out map[string]any
	_ = json.Unmarshal(w.Body.Bytes(), &out)
	return w, out
}

func TestRequestRideDecodesAndValidates(t *testing.T) {
	f := &fakeEngine{}
	mux := newMux(f)
	w, out := serve(mux, "POST", "/v1/rides?rider_id=alice", `{"pickup":{"lat":1.5,"lon":2.5},"dropoff":{"lat":3,"lon":4}}`)
	if w.Code != 201 || out["rider_id"] != "alice" || w.Header().Get("Location") != "/v1/rides/r1" {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	p := out["pickup"].(map[string]any)
	if p["lat"] != 1.5 || p["lon"] != 2.5 {
		t.Fatalf("pickup %v", p)
	}
	calls := f.calls
	for _, body := range []string{
		`{"pickup":{"lat":1.5,"lon":2.5},"dropoff":{"lat":3,"lon":4},"quote_id":""}`,
		`{"pickup":{"lat":1.5,"lon":2.5},"dropoff":null}`,
		`{"pickup":{"lat":1e400,"lon":2.5},"dropoff":{"lat":3,"lon":4}}`,
		`{"pickup":{"lat":1,"lon":2},"dropoff":{"lat":3,"lon":4}} {}`,
		`{"pickup":[1,2],"dropoff":{"lat":3,"lon":4}}`,
	} {
		w, out := serve(mux, "POST", "/v1/rides?rider_id=alice", body)
		e, _ := out["error"].(map[string]any)
		if w.Code != 400 || e["code"] != "invalid_argument" || e["message"] == "" {
			t.Errorf("%s: %d %s", body, w.Code, w.Body)
		}
	}
	if f.calls != calls {
		t.Fatalf("rejected bodies reached the engine")
	}
}

func TestNearbyShape(t *testing.T) {
	w, out := serve(newMux(&fakeEngine{}), "GET", "/v1/drivers/nearby?lat=1&lon=2&radius_m=300&limit=3", "")
	ds, ok := out["drivers"].([]any)
	if w.Code != 200 || !ok || len(ds) != 1 {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	d := ds[0].(map[string]any)
	if d["id"] != "d1" || d["lat"] != 1.0 || d["lon"] != 2.0 || d["distance_m"] != 12.3 {
		t.Fatalf("driver %v", d)
	}
}

// A bad center is refused before the engine, in the query's own terms.
func TestNearbyBadCenter(t *testing.T) {
	f := &fakeEngine{}
	w, out := serve(newMux(f), "GET", "/v1/drivers/nearby?lat=97&lon=2", "")
	e, _ := out["error"].(map[string]any)
	if w.Code != 400 || e["code"] != "invalid_argument" || e["message"] != "lat must be within [-90, 90], got 97" {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
}

func TestErrorStatuses(t *testing.T) {
	mux := newMux(&fakeEngine{})
	for _, c := range []struct {
		method, path, body string
		status             int
	}{
		{"GET", "/v1/rides/x?rider_id=a", "", 404},
		{"POST", "/v1/rides/x/cancel?rider_id=a", "", 409},
		{"POST", "/v1/rides/x/rating", `{"stars":3}`, 401},
		{"POST", "/v1/rides/x/rating?rider_id=a", `{}`, 400},
		{"DELETE", "/v1/rides/x", "", 405},
		{"GET", "/healthz", "", 200},
		{"GET", "/readyz", "", 200},
	} {
		w, _ := serve(mux, c.method, c.path, c.body)
		if w.Code != c.status {
			t.Errorf("%s %s: %d %s, want %d", c.method, c.path, w.Code, w.Body, c.status)
		}
	}
}

// FuzzPostBodies throws arbitrary bodies at every POST endpoint: no panic,
// a 2xx or a 4xx with the JSON error shape, and the engine is reached only
// by bodies that decoded into valid coordinates.
func FuzzPostBodies(f *testing.F) {
	for _, s := range []string{
		`{"pickup":{"lat":37.7,"lon":-122.4},"dropoff":{"lat":37.8,"lon":-122.3}}`,
		`{"pickup":{"lat":37.7,"lon":-122.4},"dropoff":{"lat":37.8,"lon":-122.3},"quote_id":"abc.def"}`,
		`{"stars":5,"comment":"great"}`, `{"stars":"5"}`, `{"stars":4.5}`, `[]`, `null`, `{`, ``, `"x"`,
		`{"pickup":{"lat":"NaN","lon":0}}`, `{"pickup":{"lat":1e999,"lon":0},"dropoff":{"lat":0,"lon":0}}`,
		`{"pickup":{"lat":91,"lon":0},"dropoff":{"lat":0,"lon":181}}`, "\x00\xff", `{"a":` + strings.Repeat("[", 1000),
	} {
		f.Add(s, uint8(0))
		f.Add(s, uint8(1))
		f.Add(s, uint8(2))
		f.Add(s, uint8(3))
	}
	paths := []string{"/v1/quotes", "/v1/rides?rider_id=r", "/v1/rides/x/rating?rider_id=r", "/v1/rides/x/cancel?rider_id=r"}
	f.Fuzz(func(t *testing.T, body string, which uint8) {
		mux := newMux(&fakeEngine{})
		path := paths[int(which)%len(paths)]
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, httptest.NewRequest("POST", path, strings.NewReader(body)))
		if w.Code >= 500 {
			t.Fatalf("%s %q: %d %s", path, body, w.Code, w.Body)
		}
		if w.Code >= 400 {
			var e struct {
				Error struct{ Code, Message string } `json:"error"`
			}
			b, _ := io.ReadAll(w.Body)
			if err := json.Unmarshal(b, &e); err != nil || e.Error.Code == "" || e.Error.Message == "" {
				t.Fatalf("%s %q: error body %s", path, body, b)
			}
		}
	})
}

// A readiness check that hangs (a paused backend) is cut short: /readyz
// answers 503 instead of hanging with it.
func TestReadyzHungBackend(t *testing.T) {
	mux := http.NewServeMux()
	hung := func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }
	httpapi.New(&fakeEngine{}, auth.New(nil, nil), httpapi.Config{Ready: hung}).Register(mux)
	w, out := serve(mux, "GET", "/readyz", "")
	e, _ := out["error"].(map[string]any)
	if w.Code != 503 || e["code"] != "unavailable" {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
}
