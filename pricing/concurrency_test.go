package pricing_test

import (
	"sync"
	"testing"
	"time"

	"github.com/ridehail/dispatch/geo"
)

// TestConcurrentUse exercises every entry point from many goroutines; run it
// with -race.
func TestConcurrentUse(t *testing.T) {
	c, clock, supply := surgeCalc(t, 10*time.Second)
	supply.n.Store(3)
	points := []geo.Point{sfFerryBuilding, sfMission, nycTimesSquare, tokyoStation, london}
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				p, d := points[(g+i)%len(points)], points[(g+i+1)%len(points)]
				c.RecordDemand(p)
				if g == 0 {
					clock.Advance(100 * time.Millisecond)
				}
				if g == 1 && i%50 == 0 {
					c.SetSupplyFunc(supply.fn)
				}
				q, err := c.Quote(p, d)
				if err != nil {
					errs <- err
					return
				}
				v, err := c.VerifyQuote(q.ID, p, d)
				if err != nil {
					errs <- err
					return
				}
				if v.Fare != q.Fare {
					t.Errorf("verified fare %v != quoted %v", v.Fare, q.Fare)
				}
				if _, err := c.FinalFare(v.Booking(), v.DistanceM*1.1, v.DurationS); err != nil {
					errs <- err
					return
				}
				if s, err := c.Surge(p); err != nil || s < 1 || s > 3 {
					t.Errorf("surge %v, %v", s, err)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
