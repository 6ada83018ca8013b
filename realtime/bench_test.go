package realtime

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"golang.org/x/time/rate"

	"github.com/ridehail/dispatch/dispatch"
	"github.com/ridehail/dispatch/geo"
	"github.com/ridehail/dispatch/pricing"
)

func benchOffer(i int) dispatch.OfferEvent {
	return dispatch.OfferEvent{
		Type: "offer", OfferID: fmt.Sprintf("ride-%d.1", i), RideID: fmt.Sprintf("ride-%d", i),
		Pickup: geo.Point{Lat: 37.7749, Lon: -122.4194}, Dropoff: geo.Point{Lat: 37.8, Lon: -122.45},
		Fare: pricing.Money{Amount: 1250, Currency: "USD"}, PickupDistanceM: 812.4, ExpiresAt: 1700000015000,
	}
}

// BenchmarkNotifyDriver measures the hub's fan-out path for driver events
// (marshal once, broker loopback, shard lookup, enqueue) over 10k
// registered drivers, without sockets. Queues are drained every round so
// that none overflows.
func BenchmarkNotifyDriver(b *testing.B) {
	const n = 10000
	h := NewHub(HubConfig{})
	if err := h.Open(context.Background()); err != nil {
		b.Fatal(err)
	}
	conns := make([]*conn, n)
	for i := range conns {
		c := newConn(h, nil, "driver", fmt.Sprintf("driver-%05d", i), time.Time{})
		h.registerDriver(c)
		conns[i] = c
	}
	ev := benchOffer(1)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		k := i % n
		h.NotifyDriver(ctx, conns[k].id, ev)
		c := conns[k]
		c.mu.Lock()
		c.q.pop()
		c.mu.Unlock()
	}
	b.StopTimer()
	if s := h.Stats(); s.SlowConsumers != 0 || s.Dropped != 0 {
		b.Fatalf("stats %+v", s)
	}
}

// BenchmarkNotifyRide measures fan-out of one driver_location to the
// riders following a ride (3 devices), with coalescing.
func BenchmarkNotifyRide(b *testing.B) {
	h := NewHub(HubConfig{})
	if err := h.Open(context.Background()); err != nil {
		b.Fatal(err)
	}
	var conns []*conn
	for i := range 3 {
		c := newConn(h, nil, "rider", fmt.Sprintf("u%d", i), time.Time{})
		c.rideID, c.latest = "ride-1", true
		h.subscribeRide(c)
		conns = append(conns, c)
	}
	ctx := context.Background()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		h.NotifyRide(ctx, "ride-1", dispatch.DriverLocationEvent{Type: "driver_location", RideID: "ride-1", Lat: 37.77, Lon: -122.41, TS: int64(i), ETAS: 240})
	}
	b.StopTimer()
	for _, c := range conns {
		if c.q.len() != 1 {
			b.Fatalf("queue holds %d positions, want the newest only", c.q.len())
		}
	}
}

// BenchmarkNotifyDriverSockets measures end to end delivery: events to 100
// connected drivers over loopback WebSockets, round robin, counted when
// the clients have read them all.
func BenchmarkNotifyDriverSockets(b *testing.B) {
	const drivers = 100
	ts := newTestServer(b, serverOpts{})
	var got atomic.Int64
	ids := make([]string, drivers)
	for i := range ids {
		ids[i] = fmt.Sprintf("d%03d", i)
		c := ts.dialDriver(b, ids[i])
		nextOf(b, c, TypeWelcome)
		go func() {
			for range c.Messages() {
				got.Add(1)
			}
		}()
	}
	ev := benchOffer(1)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	var sent int64
	for i := 0; b.Loop(); i++ {
		ts.hub.NotifyDriver(ctx, ids[i%drivers], ev)
		sent++
		if sent%128 == 0 { // stay far below the queue bound
			for got.Load() < sent-int64(drivers)*64 {
				time.Sleep(50 * time.Microsecond)
			}
		}
	}
	for got.Load() < sent {
		time.Sleep(50 * time.Microsecond)
	}
	b.StopTimer()
	if s := ts.hub.Stats(); s.SlowConsumers != 0 {
		b.Fatalf("stats %+v", s)
	}
}

// BenchmarkConnMemory reports the heap and stack held per idle driver
// connection (measured once, over 500 connections). The clients are bare
// gorilla connections with small buffers and no goroutine, so the figure
// is the server side plus about 1.5 KB of client heap.
func BenchmarkConnMemory(b *testing.B) {
	const n = 500
	d := &websocket.Dialer{ReadBufferSize: 512, WriteBufferSize: 512}
	ts := newTestServer(b, serverOpts{})
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	conns := make([]*websocket.Conn, n)
	for i := range conns {
		ws, _, err := d.Dial("ws"+strings.TrimPrefix(ts.url, "http")+"/v1/driver/ws?driver_id="+fmt.Sprint(i), nil)
		if err != nil {
			b.Fatal(err)
		}
		if _, _, err := ws.ReadMessage(); err != nil { // the welcome
			b.Fatal(err)
		}
		conns[i] = ws
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	for b.Loop() {
		// Nothing to time: the metric is memory.
	}
	b.ReportMetric(float64(after.HeapInuse-before.HeapInuse)/n, "heapB/conn")
	b.ReportMetric(float64(after.StackInuse-before.StackInuse)/n, "stackB/conn")
	for _, ws := range conns {
		ws.Close()
	}
}

// nopDispatcher accepts every fix and counts them.
type nopDispatcher struct {
	fakeDispatcher
	fixes atomic.Int64
}

func (d *nopDispatcher) UpdateLocation(context.Context, string, dispatch.Fix) error {
	d.fixes.Add(1)
	return nil
}

// BenchmarkHandleLocation measures the WebSocket side of ingest for one
// frame already read: decode, rate limit, the Dispatcher call (a no-op
// here; BenchmarkUpdateLocation in dispatch measures the engine) and the
// reply bookkeeping, for a single location frame and a batch of ten.
func BenchmarkHandleLocation(b *testing.B) {
	h := NewHub(HubConfig{FrameRate: rate.Inf})
	loc := []byte(`{"type":"location","lat":37.7749,"lon":-122.4194,"ts":1700000000000}`)
	var sb strings.Builder
	sb.WriteString(`{"type":"locations","points":[`)
	for i := range 10 {
		if i > 0 {
			sb.WriteByte(',')
		}
		fmt.Fprintf(&sb, `{"lat":37.7749,"lon":-122.4194,"ts":%d}`, 1700000000000+i)
	}
	sb.WriteString(`]}`)
	for _, c := range []struct {
		name  string
		frame []byte
		fixes int
	}{{"location", loc, 1}, {"batch10", []byte(sb.String()), 10}} {
		b.Run(c.name, func(b *testing.B) {
			d := &nopDispatcher{}
			s := &driverSession{c: newConn(h, nil, "driver", "d1", time.Time{}), d: d}
			b.ReportAllocs()
			for b.Loop() {
				s.c.lastTS = 0
				s.handle(websocket.TextMessage, c.frame)
			}
			b.StopTimer()
			if got := d.fixes.Load(); got != int64(b.N*c.fixes) {
				b.Fatalf("%d fixes for %d frames", got, b.N)
			}
			if n := s.c.q.len(); n != 0 {
				b.Fatalf("%d replies queued", n)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*c.fixes), "ns/fix")
		})
	}
}
