package redis

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/ridehail/dispatch/dispatch"
	"github.com/ridehail/dispatch/geo"
)

// stored returns what Redis holds for id: its raw position (ok=false when
// absent from the hash) and whether it is in the GEO set and the
// last-seen set.
func stored(t *testing.T, l *Locator, id string) (p geo.Point, seen int64, inHash, inGeo, inSeen bool) {
	t.Helper()
	ctx := context.Background()
	k, c := l.k, l.c
	raw, err := c.HGet(ctx, k.pos(), id).Result()
	switch {
	case errors.Is(err, goredis.Nil):
	case err != nil:
		t.Fatal(err)
	default:
		inHash = true
		if p, seen, err = parseRaw(raw); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.ZScore(ctx, k.geo(), id).Err(); err == nil {
		inGeo = true
	} else if !errors.Is(err, goredis.Nil) {
		t.Fatal(err)
	}
	if err := c.ZScore(ctx, k.seen(), id).Err(); err == nil {
		inSeen = true
	} else if !errors.Is(err, goredis.Nil) {
		t.Fatal(err)
	}
	return p, seen, inHash, inGeo, inSeen
}

// TestInvalidLatitudeRejectedAtIngest: Redis GEOADD refuses |lat| >
// 85.05112878, and one invalid member fails the whole command. So the
// locator refuses such a fix in Update, and the batch D1, D2, D3 leaves D1
// and D3 stored, in memory and in Redis, with D2 rejected at ingest.
func TestInvalidLatitudeRejectedAtIngest(t *testing.T) {
	for _, srv := range servers(t) {
		t.Run(srv.name, func(t *testing.T) {
			ctx := context.Background()
			b := openTest(t, srv.url, Options{})
			d1 := geo.Point{Lat: 12.9716, Lon: 77.5946}
			d2 := geo.Point{Lat: 86.0, Lon: 15.0}
			d3 := geo.Point{Lat: 85.05112878, Lon: 15.0}

			// Redis itself: the invalid member fails the whole GEOADD.
			probe := b.Locator.k.prefix + "probe"
			err := b.Client.GeoAdd(ctx, probe,
				&goredis.GeoLocation{Name: "D1", Latitude: d1.Lat, Longitude: d1.Lon},
				&goredis.GeoLocation{Name: "D2", Latitude: d2.Lat, Longitude: d2.Lon},
				&goredis.GeoLocation{Name: "D3", Latitude: d3.Lat, Longitude: d3.Lon}).Err()
			if err == nil {
				t.Fatal("Redis accepted latitude 86 in GEOADD")
			}
			if n, _ := b.Client.ZCard(ctx, probe).Result(); n != 0 {
				t.Fatalf("the failed GEOADD stored %d members, want 0 (all or nothing)", n)
			}

			now := time.Now().UnixMilli()
			loc := b.Locator
			if err := loc.Update(ctx, "D1", d1, now); err != nil {
				t.Fatal(err)
			}
			if err := loc.Update(ctx, "D2", d2, now); !errors.Is(err, geo.ErrInvalidPoint) {
				t.Fatalf("D2 at latitude 86: %v, want an error wrapping geo.ErrInvalidPoint", err)
			}
			if err := loc.Update(ctx, "D3", d3, now); err != nil {
				t.Fatalf("D3 at latitude 85.05112878: %v", err)
			}
			checkMemory := func(when string) {
				t.Helper()
				for id, want := range map[string]geo.Point{"D1": d1, "D3": d3} {
					p, seen, ok, err := loc.Position(ctx, id)
					if err != nil || !ok || p != want || seen != now {
						t.Fatalf("%s: position of %s: %v %d %v %v", when, id, p, seen, ok, err)
					}
				}
				if _, _, ok, _ := loc.Position(ctx, "D2"); ok {
					t.Fatalf("%s: D2 stored", when)
				}
			}
			checkMemory("before the flush")
			landed, err := loc.Flush(ctx)
			if err != nil || landed != 2 {
				t.Fatalf("flush: %d landed, %v; want 2", landed, err)
			}
			for id, want := range map[string]geo.Point{"D1": d1, "D3": d3} {
				p, seen, inHash, inGeo, inSeen := stored(t, b.Locator, id)
				if !inHash || !inGeo || !inSeen || p != want || seen != now {
					t.Fatalf("%s in Redis: %v %d hash=%v geo=%v seen=%v", id, p, seen, inHash, inGeo, inSeen)
				}
			}
			if _, _, inHash, inGeo, inSeen := stored(t, b.Locator, "D2"); inHash || inGeo || inSeen {
				t.Fatal("D2 reached Redis")
			}
			checkMemory("after the flush")

			// A member at exactly +85.05112878 gets an overflowing geohash
			// in Redis that GEOSEARCH never finds; the mirror stores it 9 mm
			// south in the GEO set, so Nearest still finds it, at its raw
			// coordinates.
			if err := loc.SetAvailable(ctx, "D3", true); err != nil {
				t.Fatal(err)
			}
			c := geo.Point{Lat: 85.0511, Lon: 15}
			got, err := loc.Nearest(ctx, c, 1000, 5, 0, nil)
			if err != nil || len(got) != 1 || got[0].ID != "D3" || got[0].Point != d3 || got[0].Distance != geo.Distance(c, d3) {
				t.Fatalf("nearest to the latitude limit: %+v %v", got, err)
			}
		})
	}
}

// TestTwoNodes: two backends on one Redis share drivers. A fix ingested by
// node A is found by node B after A's flush, at its exact raw coordinates;
// availability set on one node holds on the other; the newest fix wins
// whichever node wrote it.
func TestTwoNodes(t *testing.T) {
	for _, srv := range servers(t) {
		t.Run(srv.name, func(t *testing.T) {
			ctx := context.Background()
			region := testRegion()
			a := openTest(t, srv.url, Options{Region: region}).Locator
			b := openTest(t, srv.url, Options{Region: region}).Locator
			center := geo.Point{Lat: 12.9716, Lon: 77.5946}
			p1 := geo.Point{Lat: 12.97301234567891, Lon: 77.59512345678912}
			now := time.Now().UnixMilli()
			if err := a.Update(ctx, "d", p1, now); err != nil {
				t.Fatal(err)
			}
			if err := a.SetAvailable(ctx, "d", true); err != nil {
				t.Fatal(err)
			}
			if got, _ := b.Nearest(ctx, center, 2000, 5, 0, nil); len(got) != 0 {
				t.Fatalf("node B saw an unflushed fix: %+v", got)
			}
			if got, _ := a.Nearest(ctx, center, 2000, 5, 0, nil); len(got) != 1 {
				t.Fatalf("node A lost its own pending fix: %+v", got)
			}
			if _, err := a.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			got, err := b.Nearest(ctx, center, 2000, 5, now, nil)
			if err != nil || len(got) != 1 {
				t.Fatalf("node B after the flush: %+v %v", got, err)
			}
			if want := (dispatch.Candidate{ID: "d", Point: p1, Distance: geo.Distance(center, p1), Seen: now}); got[0] != want {
				t.Fatalf("node B found %+v, want %+v (raw coordinates, exact distance)", got[0], want)
			}

			// The driver reconnects to node B, which mirrors a newer fix.
			p2 := geo.Point{Lat: 12.9801, Lon: 77.6001}
			if err := b.Update(ctx, "d", p2, now+1000); err != nil {
				t.Fatal(err)
			}
			if _, err := b.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			// Node A flushes an older fix late: it must not win.
			if err := a.Update(ctx, "d", p1, now+500); err != nil {
				t.Fatal(err)
			}
			if got, _ := a.Nearest(ctx, center, 5000, 5, 0, nil); len(got) != 1 || got[0].Point != p2 {
				t.Fatalf("node A, older pending fix vs newer stored one: %+v", got)
			}
			if landed, err := a.Flush(ctx); err != nil || landed != 0 {
				t.Fatalf("late older fix: landed %d, %v; want 0", landed, err)
			}
			for _, n := range []*Locator{a, b} {
				p, seen, ok, err := n.Position(ctx, "d")
				if err != nil || !ok || p != p2 || seen != now+1000 {
					t.Fatalf("position: %v %d %v %v; want %v", p, seen, ok, err, p2)
				}
			}

			if err := b.SetAvailable(ctx, "d", false); err != nil {
				t.Fatal(err)
			}
			if got, _ := a.Nearest(ctx, center, 5000, 5, 0, nil); len(got) != 0 {
				t.Fatalf("node A returned a driver node B made unavailable: %+v", got)
			}
			if err := b.SetAvailable(ctx, "d", true); err != nil {
				t.Fatal(err)
			}
			if err := a.Remove(ctx, "d"); err != nil {
				t.Fatal(err)
			}
			if got, _ := b.Nearest(ctx, center, 5000, 5, 0, nil); len(got) != 0 {
				t.Fatalf("node B returned a driver node A removed: %+v", got)
			}
		})
	}
}

// TestSweepAcrossNodes: Sweep removes a driver silent since before from
// the GEO set, the last-seen set and the raw hash, and from Nearest on
// every node; concurrent sweeps on several nodes each remove a driver
// once.
func TestSweepAcrossNodes(t *testing.T) {
	for _, srv := range servers(t) {
		t.Run(srv.name, func(t *testing.T) {
			ctx := context.Background()
			region := testRegion()
			nodes := []*Locator{
				openTest(t, srv.url, Options{Region: region}).Locator,
				openTest(t, srv.url, Options{Region: region}).Locator,
				openTest(t, srv.url, Options{Region: region}).Locator,
			}
			a, b := nodes[0], nodes[1]
			c := geo.Point{Lat: 52.52, Lon: 13.405}
			for id, seen := range map[string]int64{"old": 1000, "fresh": 5000} {
				if err := a.Update(ctx, id, c, seen); err != nil {
					t.Fatal(err)
				}
				_ = a.SetAvailable(ctx, id, true)
			}
			if _, err := a.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			if got, err := b.Sweep(ctx, 1000); err != nil || len(got) != 0 {
				t.Fatalf("sweep before=1000 removed %v, %v (seen 1000 is not before 1000)", got, err)
			}
			if got, err := b.Sweep(ctx, 1001); err != nil || fmt.Sprint(got) != "[old]" {
				t.Fatalf("sweep before=1001: %v %v", got, err)
			}
			if _, _, inHash, inGeo, inSeen := stored(t, b, "old"); inHash || inGeo || inSeen {
				t.Fatalf("swept driver left in Redis: hash=%v geo=%v seen=%v", inHash, inGeo, inSeen)
			}
			for i, n := range nodes {
				got, err := n.Nearest(ctx, c, 100, 10, 0, nil)
				if err != nil || len(got) != 1 || got[0].ID != "fresh" {
					t.Fatalf("node %d after the sweep: %+v %v", i, got, err)
				}
			}

			// Three nodes sweep 3000 stale drivers at once.
			for i := range 3000 {
				if err := a.Update(ctx, fmt.Sprint("s", i), c, 2000); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := a.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			results := make([][]string, len(nodes))
			errs := make(chan error, len(nodes))
			for i, n := range nodes {
				go func() {
					var err error
					results[i], err = n.Sweep(ctx, 3000)
					errs <- err
				}()
			}
			for range nodes {
				if err := <-errs; err != nil {
					t.Fatal(err)
				}
			}
			count := map[string]int{}
			for _, r := range results {
				for _, id := range r {
					count[id]++
				}
			}
			if len(count) != 3000 {
				t.Fatalf("concurrent sweeps removed %d of 3000", len(count))
			}
			for id, n := range count {
				if n != 1 {
					t.Fatalf("%s removed by %d sweeps", id, n)
				}
			}
		})
	}
}

// TestStaleDriverSweptByRun: with Run going on two nodes, a driver that
// stops sending fixes leaves the GEO set and both nodes' Nearest once the
// staleness window and a sweep interval have passed, and not before its
// window.
func TestStaleDriverSweptByRun(t *testing.T) {
	for _, srv := range servers(t) {
		t.Run(srv.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			region := testRegion()
			opt := Options{Region: region, StaleAfter: 400 * time.Millisecond,
				SweepInterval: 50 * time.Millisecond, FlushInterval: 10 * time.Millisecond}
			na, nb := openTest(t, srv.url, opt), openTest(t, srv.url, opt)
			done := make(chan struct{}, 2)
			for _, n := range []*Backend{na, nb} {
				go func() { _ = n.Run(ctx); done <- struct{}{} }()
			}
			defer func() { cancel(); <-done; <-done }()

			c := geo.Point{Lat: -33.8688, Lon: 151.2093}
			seen := time.Now().UnixMilli()
			if err := na.Locator.Update(ctx, "quiet", c, seen); err != nil {
				t.Fatal(err)
			}
			_ = na.Locator.SetAvailable(ctx, "quiet", true)
			waitFor(t, 10*time.Second, "node B to see the driver", func() bool {
				got, _ := nb.Locator.Nearest(ctx, c, 100, 1, 0, nil)
				return len(got) == 1
			})
			waitFor(t, 10*time.Second, "the sweeper to remove the silent driver", func() bool {
				_, _, inHash, inGeo, inSeen := stored(t, nb.Locator, "quiet")
				ga, _ := na.Locator.Nearest(ctx, c, 100, 1, 0, nil)
				gb, _ := nb.Locator.Nearest(ctx, c, 100, 1, 0, nil)
				return !inHash && !inGeo && !inSeen && len(ga) == 0 && len(gb) == 0
			})
			gone := time.Now().UnixMilli() - seen
			if gone < opt.StaleAfter.Milliseconds() {
				t.Fatalf("driver swept %d ms after its fix, inside its %v window", gone, opt.StaleAfter)
			}
			t.Logf("swept %d ms after its last fix (window %v + sweep interval %v)", gone, opt.StaleAfter, opt.SweepInterval)
		})
	}
}

// waitFor polls cond until it holds or limit passes.
func waitFor(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", limit, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestNearestSparse: with an unlimited radius the search widens until it
// has covered the Earth, and stops there when fewer than k drivers exist.
func TestNearestSparse(t *testing.T) {
	ctx := context.Background()
	l := openTest(t, singleURL(t), Options{}).Locator
	c := geo.Point{Lat: 48.8566, Lon: 2.3522}
	if got, err := l.Nearest(ctx, c, 0, 10, 0, nil); err != nil || len(got) != 0 {
		t.Fatalf("empty region: %v %v", got, err)
	}
	far := geo.Point{Lat: -33.9249, Lon: 18.4241}
	if err := l.Update(ctx, "far", far, 1); err != nil {
		t.Fatal(err)
	}
	_ = l.SetAvailable(ctx, "far", true)
	for _, flush := range []bool{false, true} {
		if flush {
			if _, err := l.Flush(ctx); err != nil {
				t.Fatal(err)
			}
		}
		got, err := l.Nearest(ctx, c, 0, 10, 0, nil)
		if err != nil || len(got) != 1 || got[0].Point != far || got[0].Distance != geo.Distance(c, far) {
			t.Fatalf("flushed=%v: %+v %v", flush, got, err)
		}
	}
}

// TestFlushFailureKeepsFixes: a flush that fails leaves its fixes pending
// (still visible on this node) for the next one, except those removed in
// the meantime; a backlog larger than one pipeline lands whole.
func TestFlushFailureKeepsFixes(t *testing.T) {
	ctx := context.Background()
	b := openTest(t, singleURL(t), Options{})
	l := b.Locator
	p := geo.Point{Lat: 35.6762, Lon: 139.6503}
	for _, id := range []string{"a", "b", "c"} {
		if err := l.Update(ctx, id, p, 7); err != nil {
			t.Fatal(err)
		}
	}
	dead, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := l.Flush(dead); err == nil {
		t.Fatal("flush with a cancelled context succeeded")
	}
	if st := l.Stats(); st.Pending != 3 || st.FlushErrors != 1 {
		t.Fatalf("after a failed flush: %+v", st)
	}
	if err := l.Remove(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	if n, err := l.Flush(ctx); err != nil || n != 2 {
		t.Fatalf("retry: landed %d, %v; want 2", n, err)
	}
	for id, want := range map[string]bool{"a": true, "b": false, "c": true} {
		if _, _, inHash, inGeo, inSeen := stored(t, l, id); inHash != want || inGeo != want || inSeen != want {
			t.Fatalf("%s in Redis: hash=%v geo=%v seen=%v, want %v", id, inHash, inGeo, inSeen, want)
		}
	}

	const backlog = 2*pipelineFixes + 123
	for i := range backlog {
		if err := l.Update(ctx, fmt.Sprint("x", i), p, 8); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := l.Flush(ctx); err != nil || n != backlog {
		t.Fatalf("backlog: landed %d, %v; want %d", n, err, backlog)
	}
	if l.pend.Len() != 0 || l.Stats().Pending != 0 {
		t.Fatalf("backlog left %d in the pending index", l.pend.Len())
	}
	if n, _ := b.Client.ZCard(ctx, l.k.geo()).Result(); n != backlog+2 {
		t.Fatalf("GEO set holds %d, want %d", n, backlog+2)
	}
}

// TestNodeHeartbeat: a node running Run is alive to every node; stopped
// cleanly it is gone at once; a node whose heartbeat stops without a clean
// stop (kill -9) is gone within NodeTTL, and not before a missed beat.
func TestNodeHeartbeat(t *testing.T) {
	for _, srv := range servers(t) {
		t.Run(srv.name, func(t *testing.T) {
			region := testRegion()
			opt := Options{Region: region, NodeID: "n1", NodeTTL: 300 * time.Millisecond, HeartbeatInterval: 50 * time.Millisecond}
			n1 := openTest(t, srv.url, opt)
			other := openTest(t, srv.url, Options{Region: region})
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { _ = n1.Run(ctx); close(done) }()
			waitFor(t, 5*time.Second, "n1 alive", func() bool { ok, err := other.NodeAlive(ctx, "n1"); return ok && err == nil })
			if ok, err := other.NodeAlive(ctx, "n2"); ok || err != nil {
				t.Fatalf("unknown node alive: %v, %v", ok, err)
			}
			time.Sleep(500 * time.Millisecond) // longer than the TTL: the beats keep it alive
			if ok, err := other.NodeAlive(ctx, "n1"); !ok || err != nil {
				t.Fatalf("running node dead after a TTL: %v, %v", ok, err)
			}
			cancel()
			<-done
			if ok, err := other.NodeAlive(context.Background(), "n1"); ok || err != nil {
				t.Fatalf("cleanly stopped node alive: %v, %v", ok, err)
			}
			// One beat and then silence, as after kill -9.
			if err := n1.Heartbeat(context.Background()); err != nil {
				t.Fatal(err)
			}
			beat := time.Now()
			waitFor(t, 5*time.Second, "n1 dead after its last beat", func() bool {
				ok, err := other.NodeAlive(context.Background(), "n1")
				return !ok && err == nil
			})
			if gone := time.Since(beat); gone < opt.NodeTTL-50*time.Millisecond {
				t.Fatalf("dead %v after its last beat, inside the %v TTL", gone, opt.NodeTTL)
			}
		})
	}
}
