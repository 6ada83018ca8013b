package server_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/ridehail/dispatch/dispatch"
	"github.com/ridehail/dispatch/internal/server"
	"github.com/ridehail/dispatch/realtime"
)

// redisURL returns the throwaway Redis that scripts/test.sh started.
func redisURL(t *testing.T) string {
	t.Helper()
	u := os.Getenv("DISPATCH_TEST_REDIS_URL")
	if u == "" {
		t.Fatal("DISPATCH_TEST_REDIS_URL is not set: the cluster tests need a real Redis; run them through scripts/test.sh, which starts a throwaway one")
	}
	return u
}

// testRegion is a region no other test uses; its keys are deleted after.
func testRegion(t *testing.T, url string) string {
	t.Helper()
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	region := "e2e-" + hex.EncodeToString(b)
	t.Cleanup(func() {
		opt, err := goredis.ParseURL(url)
		if err != nil {
			return
		}
		c := goredis.NewClient(opt)
		defer c.Close()
		ctx := context.Background()
		for _, p := range []string{"dispatch:{" + region + "}:*", "dispatch:" + region + ":lock:*"} {
			it := c.Scan(ctx, 0, p, 1000).Iterator()
			for it.Next(ctx) {
				c.Del(ctx, it.Val())
			}
		}
	})
	return region
}

// TestThreeNodes runs three dispatchd nodes on one Redis: drivers are
// spread over the nodes, each ride is requested on one node, ten drivers
// on all three accept it at the same instant — a hundred times — and
// exactly one is assigned every time.
func TestThreeNodes(t *testing.T) {
	url := redisURL(t)
	region := testRegion(t, url)
	nodes := make([]*server.Server, 3)
	for i := range nodes {
		nodes[i] = startServer(t, server.Config{RedisURL: url, Region: region, QuoteSecret: "shared-secret"})
	}
	const n = 10
	drivers := make([]*realtime.Client, n)
	for i := range drivers {
		drivers[i] = dialDriver(t, nodes[i%3].URL(), fmt.Sprint("d", i), float64(100*(i+1)))
	}
	// Every node sees every driver (positions mirrored through Redis).
	for _, node := range nodes {
		waitNearby(t, node.URL(), n)
	}
	for round := 0; round < 100; round++ {
		node := nodes[round%3]
		ride := requestRide(t, node.URL(), fmt.Sprint("rider", round))
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
		winners, winner := 0, -1
		for i, c := range drivers {
			m := nextOf(t, c, "assigned", "offer_revoked")
			if m.Type == "assigned" {
				winners++
				winner = i
				continue
			}
			var rv struct{ Reason string }
			_ = m.Decode(&rv)
			if rv.Reason != "taken" {
				t.Fatalf("round %d: revoked %s", round, m.Raw)
			}
		}
		if winners != 1 {
			t.Fatalf("round %d: %d drivers assigned", round, winners)
		}
		// Any node answers for the ride, with the one winner.
		code, b := doJSON(t, "GET", nodes[(round+1)%3].URL()+"/v1/rides/"+ride.ID+"?rider_id="+ride.RiderID, "", nil)
		var got rideJSON
		_ = json.Unmarshal(b, &got)
		if code != 200 || got.Status != "assigned" || got.DriverID != fmt.Sprint("d", winner) {
			t.Fatalf("round %d: %d %s, winner d%d", round, code, b, winner)
		}
		if round == 0 {
			// The rider on another node follows the driver's positions.
			driveTrip(t, nodes[2].URL(), drivers[winner], got, float64(100*(winner+1)-20))
			continue
		}
		code, b = doJSON(t, "POST", nodes[(round+2)%3].URL()+"/v1/rides/"+ride.ID+"/cancel?rider_id="+ride.RiderID, "", nil)
		if code != 200 {
			t.Fatalf("cancel: %d %s", code, b)
		}
		next(t, drivers[winner], "ride_cancelled")
		if round%10 == 0 {
			for i, c := range drivers {
				sendFix(t, c, float64(100*(i+1)))
			}
		}
	}
	var assigned int64
	for _, node := range nodes {
		assigned += node.Engine().Stats().RidesAssigned
	}
	if assigned != 100 {
		t.Fatalf("%d assignments over the nodes for 100 rides", assigned)
	}
}

func waitNearby(t *testing.T, base string, want int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		code, b := doJSON(t, "GET", base+"/v1/drivers/nearby?lat=37.7749&lon=-122.4194&radius_m=3000&limit=50", "", nil)
		var near struct{ Drivers []struct{ ID string } }
		_ = json.Unmarshal(b, &near)
		if code == 200 && len(near.Drivers) == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s sees %d drivers, want %d: %s", base, len(near.Drivers), want, b)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestTimersSurviveKill9 kills -9 the node that created two rides during
// matching: the surviving node's timers still finish both — one assigned
// to a driver connected to the survivor, one no_driver at its deadline.
func TestTimersSurviveKill9(t *testing.T) {
	start := dispatchdProcs(t, "-match-timeout", "4s", "-offer-timeout", "20s")
	a, procA := start("A")
	b, _ := start("B")

	d := dialDriver(t, b, "survivor-driver", 100)
	waitNearby(t, a, 1)
	ride1 := requestRide(t, a, "r1") // offered to the driver on B
	var o struct {
		OfferID string `json:"offer_id"`
	}
	if err := next(t, d, "offer").Decode(&o); err != nil {
		t.Fatal(err)
	}
	// Far away from every driver: nobody will be offered this one.
	code, body := doJSON(t, "POST", a+"/v1/rides?rider_id=r2", `{"pickup":{"lat":40.7128,"lon":-74.0060},"dropoff":{"lat":40.73,"lon":-73.99}}`, nil)
	if code != 201 {
		t.Fatalf("ride 2: %d %s", code, body)
	}
	var ride2 rideJSON
	_ = json.Unmarshal(body, &ride2)

	if err := procA.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = procA.Wait()

	if err := d.Send(context.Background(), map[string]any{"type": "accept", "offer_id": o.OfferID}); err != nil {
		t.Fatal(err)
	}
	next(t, d, "assigned")
	deadline := time.Now().Add(30 * time.Second)
	for {
		r1 := getRide(t, b, ride1)
		r2 := getRide(t, b, ride2)
		if r1.Status == "assigned" && r2.Status == "no_driver" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after kill -9: ride1 %s (want assigned), ride2 %s (want no_driver)", r1.Status, r2.Status)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestDriverOfKilledNode: a driver connected to node A is assigned a ride
// requested on node B; A dies with kill -9 and the driver never comes back
// (its phone died too). Nobody reports its disconnect, so B must notice
// that A's heartbeat stopped once the driver is stale, and after the grace
// period send the ride back to matching.
func TestDriverOfKilledNode(t *testing.T) {
	start := dispatchdProcs(t, "-stale-after", "2s", "-disconnect-grace", "1s", "-node-ttl", "1s")
	a, procA := start("A")
	b, _ := start("B")

	d := dialDriver(t, a, "doomed-driver", 100)
	waitNearby(t, b, 1)
	ride := requestRide(t, b, "r1")
	var o struct {
		OfferID string `json:"offer_id"`
	}
	if err := next(t, d, "offer").Decode(&o); err != nil {
		t.Fatal(err)
	}
	if err := d.Send(context.Background(), map[string]any{"type": "accept", "offer_id": o.OfferID}); err != nil {
		t.Fatal(err)
	}
	next(t, d, "assigned")
	if err := procA.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = procA.Wait()
	killed := time.Now()

	deadline := killed.Add(30 * time.Second)
	for {
		r := getRide(t, b, ride)
		if r.Status == "matching" && r.DriverID == "" {
			t.Logf("ride back to matching %v after the kill", time.Since(killed).Round(100*time.Millisecond))
			break
		}
		if r.Status != "assigned" || time.Now().After(deadline) {
			t.Fatalf("after kill -9 of the driver's node: ride %s with %q, want matching with no driver", r.Status, r.DriverID)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Stale drivers, wherever connected, are not offered rides anyway;
	// the one of the dead node is not listed either.
	waitNearby(t, b, 0)
}

// dispatchdProcs builds dispatchd and returns a function that starts one
// more node of a cluster on the test's Redis and region (with args added
// to the flags), waits until it is ready and returns its base URL and
// process. The processes are killed at cleanup.
func dispatchdProcs(t *testing.T, args ...string) func(name string) (string, *exec.Cmd) {
	url := redisURL(t)
	region := testRegion(t, url)
	bin := filepath.Join(t.TempDir(), "dispatchd")
	if out, err := exec.Command("go", "build", "-o", bin, "../../cmd/dispatchd").CombinedOutput(); err != nil {
		t.Fatalf("build dispatchd: %v\n%s", err, out)
	}
	return func(name string) (string, *exec.Cmd) {
		ln := freeAddr(t)
		flags := append([]string{"-addr", ln, "-redis", url, "-region", region, "-quote-secret", "s", "-log-level", "warn"}, args...)
		cmd := exec.Command(bin, flags...)
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		base := "http://" + ln
		deadline := time.Now().Add(10 * time.Second)
		for {
			if code, _ := doJSONQuiet(base + "/readyz"); code == 200 {
				return base, cmd
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s did not become ready", name)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

func getRide(t *testing.T, base string, r rideJSON) rideJSON {
	t.Helper()
	_, b := doJSON(t, "GET", base+"/v1/rides/"+r.ID+"?rider_id="+r.RiderID, "", nil)
	var got rideJSON
	_ = json.Unmarshal(b, &got)
	return got
}

func doJSONQuiet(url string) (int, error) {
	resp, err := httpClient.Get(url)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

var _ = dispatch.RideMatching

// TestReconnectAcrossNodes drops a driver's connection on one node at the
// moment it reconnects to another (a phone switching networks behind a
// load balancer), ten times. Whichever end the engine hears of last, the
// old connection's end must not take the new session offline: the driver
// stays listed on every node and is offered the next ride.
func TestReconnectAcrossNodes(t *testing.T) {
	url := redisURL(t)
	region := testRegion(t, url)
	nodes := []*server.Server{
		startServer(t, server.Config{RedisURL: url, Region: region, QuoteSecret: "shared-secret"}),
		startServer(t, server.Config{RedisURL: url, Region: region, QuoteSecret: "shared-secret"}),
	}
	cur := dialDriver(t, nodes[0].URL(), "hopper", 100)
	for round := 1; round <= 10; round++ {
		node := nodes[round%2]
		var wg sync.WaitGroup
		wg.Add(1)
		go func(old *realtime.Client) {
			defer wg.Done()
			_ = old.Close()
		}(cur)
		c, err := realtime.DialDriver(context.Background(), node.URL(), "hopper", "")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		wg.Wait()
		next(t, c, "welcome")
		sendFix(t, c, 100)
		cur = c
		time.Sleep(100 * time.Millisecond) // let the old connection's end reach the engine
		for _, n := range nodes {
			waitNearby(t, n.URL(), 1)
		}
		ride := requestRide(t, nodes[(round+1)%2].URL(), fmt.Sprint("hop-rider", round))
		var o struct {
			RideID string `json:"ride_id"`
		}
		if m := next(t, c, "offer"); m.Decode(&o) != nil || o.RideID != ride.ID {
			t.Fatalf("round %d: offer %s, want one for %s", round, m.Raw, ride.ID)
		}
		code, b := doJSON(t, "POST", nodes[0].URL()+"/v1/rides/"+ride.ID+"/cancel?rider_id="+ride.RiderID, "", nil)
		if code != 200 {
			t.Fatalf("round %d: cancel: %d %s", round, code, b)
		}
		nextOf(t, c, "offer_revoked")
		sendFix(t, c, 100)
	}
}
