package realtime

import (
	"bytes"
	"context"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/ridehail/dispatch/dispatch"
)

// TestHub_SlowConsumer: 100 drivers, one of which stops reading; the hub
// sends 1000 messages to each. The 99 get all 1000 in order, the stalled
// one is closed as a slow consumer, a driver connecting meanwhile is
// served at once, and every goroutine is gone afterwards.
func TestHub_SlowConsumer(t *testing.T) {
	if testing.Short() {
		t.Skip("moves ~40 MB over loopback")
	}
	const drivers, msgs = 100, 1000
	// Small kernel buffers on the stalled socket (the first one dialled)
	// make it back up after a few dozen frames instead of a few MB. Long
	// write and pong waits keep the stalled socket open, its writer
	// blocked, until the client resumes reading.
	ts := newTestServer(t, serverOpts{sndbuf: 4096, hub: HubConfig{
		WriteWait: 2 * waitTimeout, PingPeriod: waitTimeout, PongWait: 2 * waitTimeout,
	}})
	base := runtime.NumGoroutine()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()

	stalled, err := dialEndpoint(ctx, smallRcvDialer(4096), ts.url, "/v1/driver/ws", map[string][]string{"driver_id": {"stalled"}}, "")
	if err != nil {
		t.Fatal(err)
	}
	defer stalled.Close()
	nextOf(t, stalled, TypeWelcome) // and then read nothing more

	ids := []string{"stalled"}
	var clients []*Client
	recv := make([]atomic.Int64, drivers-1)
	var readers sync.WaitGroup
	errs := make(chan error, drivers)
	for i := range drivers - 1 {
		id := fmt.Sprintf("d%03d", i)
		c := ts.dialDriver(t, id)
		nextOf(t, c, TypeWelcome)
		ids = append(ids, id)
		clients = append(clients, c)
		readers.Add(1)
		go func() {
			defer readers.Done()
			for m := range c.Messages() {
				want := `"offer_id":"` + strconv.FormatInt(recv[i].Load(), 10) + `"`
				if m.Type != TypeOffer || !bytes.Contains(m.Raw, []byte(want)) {
					errs <- fmt.Errorf("%s: got %.60s after %d messages", id, m.Raw, recv[i].Load())
					return
				}
				recv[i].Add(1)
			}
		}()
	}
	minRecv := func() int64 {
		m := int64(msgs)
		for i := range recv {
			m = min(m, recv[i].Load())
		}
		return m
	}

	pad := strings.Repeat("p", 300)
	for i := range msgs {
		// Pace the producer by the healthy readers only, keeping their
		// queues well under 256; the stalled one never holds it back.
		if i%64 == 0 {
			checkFor(t, waitTimeout, func() error {
				if m := minRecv(); m < int64(i)-128 {
					return fmt.Errorf("healthy readers at %d, producer at %d", m, i)
				}
				return nil
			})
		}
		ev := dispatch.OfferEvent{Type: "offer", OfferID: strconv.Itoa(i), RideID: pad}
		for _, id := range ids {
			ts.hub.NotifyDriver(ctx, id, ev)
		}
	}
	waitStats(t, ts.hub, "slow consumer detected", func(s Stats) bool { return s.SlowConsumers == 1 })

	// While the stalled socket is still open (its writer is blocked), a
	// new driver is registered and served at once.
	late := ts.dialDriver(t, "late")
	nextOf(t, late, TypeWelcome)
	ts.hub.NotifyDriver(ctx, "late", dispatch.OfferEvent{Type: "offer", OfferID: "hello"})
	nextOf(t, late, TypeOffer)

	checkFor(t, waitTimeout, func() error {
		select {
		case err := <-errs:
			t.Fatal(err)
		default:
		}
		if m := minRecv(); m != msgs {
			return fmt.Errorf("healthy readers at %d of %d", m, msgs)
		}
		return nil
	})

	// The stalled client resumes: it reads what was buffered, then the
	// slow-consumer close frame.
	got := 0
	for range stalled.Messages() {
		got++
	}
	if code := CloseCode(stalled.Err()); code != CloseSlowConsumer {
		t.Fatalf("stalled client closed with %d (%v), want %d", code, stalled.Err(), CloseSlowConsumer)
	}
	if got >= msgs {
		t.Fatalf("stalled client got %d messages", got)
	}
	s := ts.hub.Stats()
	if s.SlowConsumers != 1 || s.Dropped == 0 {
		t.Fatalf("stats %+v", s)
	}
	t.Logf("stalled client got %d of %d before the close; stats %+v", got, msgs, s)

	for _, c := range clients {
		c.Close()
	}
	late.Close()
	stalled.Close()
	readers.Wait()
	waitStats(t, ts.hub, "all gone", func(s Stats) bool { return s.DriverConns == 0 })
	waitGoroutines(t, base)
	if n := len(ts.d.callsOf("DriverDisconnected")); n != drivers+1 {
		t.Fatalf("DriverDisconnected called %d times, want %d", n, drivers+1)
	}
}
