package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// driverConn is one simulated driver: its socket and its position.
type driverConn struct {
	ws  *websocket.Conn
	lat float64
	lon float64
	rng *rand.Rand
}

// counters are updated by the reader goroutines.
type counters struct {
	errFrames atomic.Int64
	closed    atomic.Int64
	ending    atomic.Bool // the tool is closing the connections itself

	mu       sync.Mutex
	firstErr string
	probes   []time.Duration
}

func (k *counters) probe(d time.Duration) {
	k.mu.Lock()
	k.probes = append(k.probes, d)
	k.mu.Unlock()
}

func load(ctx context.Context, c config, out io.Writer) (report, error) {
	rep := report{Drivers: c.drivers, Every: c.every.String(), Batch: c.batch}
	base := strings.TrimRight(c.server, "/")
	before, _, err := scrapeAfterGC(ctx, base, time.Now(), c.gcWait)
	if err != nil {
		return rep, fmt.Errorf("server metrics: %w", err)
	}

	var k counters
	conns, readers, err := dialAll(ctx, c, base, &k, &rep, out)
	defer func() {
		k.ending.Store(true)
		for _, dc := range conns {
			if dc != nil {
				_ = dc.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
				_ = dc.ws.Close()
			}
		}
		readers.Wait()
	}()
	if err != nil {
		return rep, err
	}

	// Idle memory per connection, from the server's own metrics, after a
	// GC so that garbage left by the handshakes does not count.
	select {
	case <-ctx.Done():
		return rep, ctx.Err()
	case <-time.After(c.settle):
	}
	idle, gcSeen, err := scrapeAfterGC(ctx, base, time.Now(), c.gcWait)
	if err != nil {
		return rep, err
	}
	rep.GCObserved = gcSeen
	if rep.Connected > 0 {
		n := float64(rep.Connected)
		rep.IdleRSSPerConnB = math.Round((idle.gauge("process_resident_memory_bytes") - before.gauge("process_resident_memory_bytes")) / n)
		rep.IdleHeapPerConnB = math.Round((idle.heapStack() - before.heapStack()) / n)
		rep.IdleStackPerConn = math.Round((idle.gauge("go_memstats_stack_inuse_bytes") - before.gauge("go_memstats_stack_inuse_bytes")) / n)
		rep.ServerGoroutines = idle.gauge("go_goroutines")
	}
	if c.duration == 0 {
		return rep, nil
	}
	fmt.Fprintf(out, "idle memory measured; load phase for %s\n", c.duration)

	start := time.Now()
	frames, fixes := sendLoad(ctx, c, conns)
	elapsed := time.Since(start)
	time.Sleep(500 * time.Millisecond) // let the last frames land
	after, err := scrape(ctx, base)
	if err != nil {
		return rep, err
	}
	rep.DurationS = math.Round(elapsed.Seconds()*10) / 10
	rep.FramesSent, rep.FixesSent = frames, fixes
	rep.SendPerSec = math.Round(float64(fixes) / elapsed.Seconds())
	rep.TargetPerSec = math.Round(float64(rep.Connected) * float64(c.batch) / c.every.Seconds())
	rep.FixesIngested = after.counter("dispatch_fixes_accepted_total") - idle.counter("dispatch_fixes_accepted_total")
	rep.IngestPerSec = math.Round(rep.FixesIngested / elapsed.Seconds())
	rep.ServerCPUS = round2(after.counter("process_cpu_seconds_total") - idle.counter("process_cpu_seconds_total"))
	rep.LagP50Ms, rep.LagP99Ms = lagQuantiles(idle, after)
	k.mu.Lock()
	p := slices.Clone(k.probes)
	rep.FirstError = k.firstErr
	k.mu.Unlock()
	rep.Probes = len(p)
	if len(p) > 0 {
		slices.Sort(p)
		ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
		rep.ProbeP50Ms = ms(p[len(p)/2])
		rep.ProbeP99Ms = ms(p[min(len(p)-1, len(p)*99/100)])
		rep.ProbeMaxMs = math.Round(ms(p[len(p)-1])*10) / 10
	}
	rep.ServerErrors, rep.Closed = k.errFrames.Load(), k.closed.Load()

	// Idle memory again, now that every connection has served frames (and
	// its goroutine's stack may have grown).
	idle2, gcSeen, err := scrapeAfterGC(ctx, base, time.Now(), c.gcWait)
	if err != nil {
		return rep, err
	}
	if rep.Connected > 0 {
		n := float64(rep.Connected)
		rep.AfterGCObserved = gcSeen
		rep.AfterHeapPerConnB = math.Round((idle2.heapStack() - before.heapStack()) / n)
		rep.AfterStackPerConn = math.Round((idle2.gauge("go_memstats_stack_inuse_bytes") - before.gauge("go_memstats_stack_inuse_bytes")) / n)
		rep.AfterRSSPerConnB = math.Round((idle2.gauge("process_resident_memory_bytes") - before.gauge("process_resident_memory_bytes")) / n)
	}
	if c.hold > 0 {
		rep.print(out)
		fmt.Fprintf(out, "holding the connections for %s\n", c.hold)
		select {
		case <-ctx.Done():
		case <-time.After(c.hold):
		}
	}
	return rep, nil
}

// dialAll opens c.drivers connections at c.ramp per second, each with a
// reader goroutine that counts error frames and times probes.
func dialAll(ctx context.Context, c config, base string, k *counters, rep *report, out io.Writer) ([]*driverConn, *sync.WaitGroup, error) {
	wsBase := "ws" + strings.TrimPrefix(base, "http")
	dialer := &websocket.Dialer{HandshakeTimeout: 10 * time.Second, ReadBufferSize: 512, WriteBufferSize: 256*c.batch + 64}
	conns := make([]*driverConn, c.drivers)
	readers := &sync.WaitGroup{}
	tick := time.NewTicker(time.Second / time.Duration(c.ramp))
	defer tick.Stop()
	start := time.Now()
	for i := range conns {
		select {
		case <-ctx.Done():
			return conns, readers, ctx.Err()
		case <-tick.C:
		}
		ws, _, err := dialer.DialContext(ctx, fmt.Sprintf("%s/v1/driver/ws?driver_id=load-%d", wsBase, i), nil)
		if err != nil {
			if rep.DialErrors++; rep.DialErrors == 1 {
				fmt.Fprintf(out, "dial error: %v\n", err)
			}
			continue
		}
		rng := rand.New(rand.NewPCG(uint64(i), 42))
		conns[i] = &driverConn{ws: ws, lat: 37.64 + rng.Float64()*0.27, lon: -122.55 + rng.Float64()*0.34, rng: rng}
		rep.Connected++
		ws.SetPongHandler(func(data string) error {
			if sent, err := strconv.ParseInt(data, 10, 64); err == nil {
				k.probe(time.Duration(time.Now().UnixNano() - sent))
			}
			return nil
		})
		readers.Add(1)
		go read(ws, k, readers)
		if rep.Connected%1000 == 0 {
			fmt.Fprintf(out, "opened %d connections\n", rep.Connected)
		}
	}
	rep.RampS = math.Round(time.Since(start).Seconds()*10) / 10
	return conns, readers, nil
}

// read drains a connection, counting error frames, until it ends.
func read(ws *websocket.Conn, k *counters, wg *sync.WaitGroup) {
	defer wg.Done()
	for {
		_, msg, err := ws.ReadMessage()
		if err != nil {
			if !k.ending.Load() {
				k.closed.Add(1)
			}
			return
		}
		if bytes.Contains(msg, []byte(`"type":"error"`)) {
			if k.errFrames.Add(1) == 1 {
				k.mu.Lock()
				k.firstErr = string(msg)
				k.mu.Unlock()
			}
		}
	}
}

// sendLoad has every connection send a frame every c.every for
// c.duration. Each worker owns a slice of the connections and keeps to
// the rate by counting the frames due since the start, so that a late
// tick is made up by the next one. It returns the frames and fixes sent.
func sendLoad(ctx context.Context, c config, conns []*driverConn) (int64, int64) {
	var frames atomic.Int64
	lctx, cancel := context.WithTimeout(ctx, c.duration)
	defer cancel()
	var wg sync.WaitGroup
	for w := range c.workers {
		var mine []*driverConn
		for i := w; i < len(conns); i += c.workers {
			if conns[i] != nil {
				mine = append(mine, conns[i])
			}
		}
		if len(mine) == 0 {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			frames.Add(sendFrames(lctx, c, mine))
		}()
	}
	wg.Wait()
	n := frames.Load()
	return n, n * int64(c.batch)
}

// sendFrames is one worker's loop over its connections.
func sendFrames(ctx context.Context, c config, mine []*driverConn) int64 {
	tick := time.NewTicker(min(c.every, 5*time.Millisecond))
	defer tick.Stop()
	start := time.Now()
	perSec := float64(len(mine)) / c.every.Seconds()
	buf := make([]byte, 0, 64+64*c.batch)
	var sent int64
	for {
		select {
		case <-ctx.Done():
			return sent
		case <-tick.C:
		}
		due := int64(time.Since(start).Seconds() * perSec)
		for ; sent < due; sent++ {
			if ctx.Err() != nil {
				return sent
			}
			dc := mine[sent%int64(len(mine))]
			buf = appendFrame(buf[:0], dc, c.batch, time.Now().UnixMilli())
			_ = dc.ws.SetWriteDeadline(time.Now().Add(5 * time.Second))
			if err := dc.ws.WriteMessage(websocket.TextMessage, buf); err != nil {
				continue
			}
			if c.probeEvery > 0 && sent%int64(c.probeEvery) == 0 {
				ts := strconv.AppendInt(nil, time.Now().UnixNano(), 10)
				_ = dc.ws.WriteControl(websocket.PingMessage, ts, time.Now().Add(5*time.Second))
			}
		}
	}
}

// appendFrame appends one location frame (batch 1) or a locations frame
// of batch fixes, moving the driver a few metres per fix. Every fix of a
// frame carries the send time ts (this machine's clock, which on loopback
// is the server's too), so that the server's lag histogram measures the
// time from send to index; equal ts are in order (only older ones are
// stale).
func appendFrame(buf []byte, dc *driverConn, batch int, ts int64) []byte {
	fix := func(buf []byte) []byte {
		dc.lat += (dc.rng.Float64() - 0.5) * 0.0002
		dc.lon += (dc.rng.Float64() - 0.5) * 0.0002
		buf = append(buf, `"lat":`...)
		buf = strconv.AppendFloat(buf, dc.lat, 'f', 6, 64)
		buf = append(buf, `,"lon":`...)
		buf = strconv.AppendFloat(buf, dc.lon, 'f', 6, 64)
		buf = append(buf, `,"ts":`...)
		return strconv.AppendInt(buf, ts, 10)
	}
	if batch == 1 {
		buf = append(buf, `{"type":"location",`...)
		return append(fix(buf), '}')
	}
	buf = append(buf, `{"type":"locations","points":[`...)
	for i := range batch {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = append(buf, '{')
		buf = append(fix(buf), '}')
	}
	return append(buf, "]}"...)
}
