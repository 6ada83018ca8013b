package blackbox_test

import (
	"sync"
	"testing"
	"time"

	"github.com/ridehail/dispatch/internal/server"
)

func TestScratch(t *testing.T) {
	srv := start(t, server.Config{})
	base := srv.URL()
	for it := 0; it < 3; it++ {
		t0 := time.Now()
		var wg sync.WaitGroup
		for i := 0; i < 20; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				t1 := time.Now()
				r := do(t, "POST", base+"/v1/rides?rider_id=same", tripBody, "Idempotency-Key", "k")
				if d := time.Since(t1); d > 100*time.Millisecond {
					t.Logf("slow %v %d", d, r.status)
				}
			}()
		}
		wg.Wait()
		t.Logf("it %v", time.Since(t0))
	}
}
