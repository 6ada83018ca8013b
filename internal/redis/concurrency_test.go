package redis

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"

	"github.com/ridehail/dispatch/geo"
)

// TestLocatorConcurrent hammers two nodes at once (run it under -race):
// workers update, mark available and remove their drivers, each driver
// on its current node and moving to the other node now and then, while
// both nodes flush, sweep and answer Nearest in the background. At the
// end both nodes and Redis agree on every driver's last state, and the GEO
// set, the last-seen set and the raw hash hold the same members.
func TestLocatorConcurrent(t *testing.T) {
	for _, srv := range servers(t) {
		t.Run(srv.name, func(t *testing.T) {
			ctx := context.Background()
			region := testRegion()
			nodes := []*Locator{
				openTest(t, srv.url, Options{Region: region}).Locator,
				openTest(t, srv.url, Options{Region: region}).Locator,
			}
			city := geo.Point{Lat: 40.7128, Lon: -74.0060}
			for i := range 200 { // stale drivers, for the sweepers
				if err := nodes[i%2].Update(ctx, fmt.Sprint("stale", i), city, 1); err != nil {
					t.Fatal(err)
				}
			}

			bg, stop := context.WithCancel(ctx)
			var bgWG sync.WaitGroup
			for _, n := range nodes {
				bgWG.Add(3)
				go func() {
					defer bgWG.Done()
					for bg.Err() == nil {
						if _, err := n.Flush(bg); err != nil && bg.Err() == nil {
							t.Error(err)
						}
					}
				}()
				go func() {
					defer bgWG.Done()
					for bg.Err() == nil {
						if _, err := n.Sweep(bg, 2); err != nil && bg.Err() == nil {
							t.Error(err)
						}
					}
				}()
				go func() {
					defer bgWG.Done()
					for bg.Err() == nil {
						if _, err := n.Nearest(bg, city, 5000, 10, 0, nil); err != nil && bg.Err() == nil {
							t.Error(err)
						}
					}
				}()
			}

			type last struct {
				p       geo.Point
				seen    int64
				removed bool
			}
			const workers, drivers, steps = 6, 20, 150
			final := make([]map[string]last, workers)
			var wg sync.WaitGroup
			for w := range workers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					rng := rand.New(rand.NewPCG(uint64(w), 1))
					state := map[string]last{}
					home := map[string]int{}
					for s := range steps {
						id := fmt.Sprintf("w%d-%d", w, rng.IntN(drivers))
						n := nodes[home[id]]
						switch r := rng.IntN(20); {
						case r < 14:
							p := geo.Point{Lat: city.Lat + (rng.Float64()-0.5)*0.05, Lon: city.Lon + (rng.Float64()-0.5)*0.05}
							seen := int64(1_000_000 + s)
							if err := n.Update(ctx, id, p, seen); err != nil {
								t.Error(err)
								return
							}
							state[id] = last{p: p, seen: seen}
						case r < 17:
							if err := n.SetAvailable(ctx, id, rng.IntN(2) == 0); err != nil {
								t.Error(err)
								return
							}
						case r < 19:
							if err := n.Remove(ctx, id); err != nil {
								t.Error(err)
								return
							}
							state[id] = last{removed: true}
						default: // the driver reconnects to the other node
							if _, err := n.Flush(ctx); err != nil {
								t.Error(err)
								return
							}
							home[id] = 1 - home[id]
						}
					}
					final[w] = state
				}()
			}
			wg.Wait()
			stop()
			bgWG.Wait()
			for _, n := range nodes {
				if _, err := n.Flush(ctx); err != nil {
					t.Fatal(err)
				}
				if _, err := n.Sweep(ctx, 2); err != nil {
					t.Fatal(err)
				}
			}

			for _, state := range final {
				for id, want := range state {
					for i, n := range nodes {
						p, seen, ok, err := n.Position(ctx, id)
						if err != nil {
							t.Fatal(err)
						}
						if want.removed && ok {
							t.Fatalf("node %d: removed driver %s has position %v", i, id, p)
						}
						if !want.removed && (!ok || p != want.p || seen != want.seen) {
							t.Fatalf("node %d: %s at %v %d %v, want %v %d", i, id, p, seen, ok, want.p, want.seen)
						}
					}
				}
			}
			k := nodes[0].k
			c := nodes[0].c
			geoIDs, err := c.ZRange(ctx, k.geo(), 0, -1).Result()
			if err != nil {
				t.Fatal(err)
			}
			seenIDs, _ := c.ZRange(ctx, k.seen(), 0, -1).Result()
			posIDs, _ := c.HKeys(ctx, k.pos()).Result()
			slices.Sort(geoIDs)
			slices.Sort(seenIDs)
			slices.Sort(posIDs)
			if !slices.Equal(geoIDs, seenIDs) || !slices.Equal(geoIDs, posIDs) {
				t.Fatalf("Redis keys disagree: geo %d seen %d pos %d members", len(geoIDs), len(seenIDs), len(posIDs))
			}
			for _, id := range geoIDs {
				if len(id) > 5 && id[:5] == "stale" {
					t.Fatalf("stale driver %s survived the sweeps", id)
				}
			}
			for _, n := range nodes {
				if n.pend.Len() != 0 {
					t.Fatalf("%d entries left in a pending index after the final flush", n.pend.Len())
				}
			}
			a, err := nodes[0].Nearest(ctx, city, 0, 0, 0, nil)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := nodes[1].Nearest(ctx, city, 0, 0, 0, nil)
			if fmt.Sprint(a) != fmt.Sprint(b) {
				t.Fatalf("nodes disagree:\n%v\n%v", a, b)
			}
		})
	}
}
