// Command loadgen load-tests a running dispatchd's location ingest: it
// opens N driver WebSocket connections, measures the server's memory per
// idle connection, then has every connection send fixes (or batches of
// fixes) every interval and reports the ingest rate and the send-to-index
// latency, read from the server's own /metrics. Loopback only; it stops by
// itself after -duration.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gorilla/websocket"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

type config struct {
	server   string
	drivers  int
	every    time.Duration
	batch    int
	duration time.Duration
	ramp     int
	settle   time.Duration
	jsonOut  string
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout)
	stop()
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, out io.Writer) error {
	var c config
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	fs.StringVar(&c.server, "server", "http://127.0.0.1:8080", "dispatchd base URL (loopback)")
	fs.IntVar(&c.drivers, "drivers", 1000, "driver connections to open")
	fs.DurationVar(&c.every, "every", time.Second, "interval between a connection's frames")
	fs.IntVar(&c.batch, "batch", 1, "fixes per frame (1: location; >1: a locations batch)")
	fs.DurationVar(&c.duration, "duration", 20*time.Second, "length of the load phase")
	fs.IntVar(&c.ramp, "ramp", 2000, "connections opened per second")
	fs.DurationVar(&c.settle, "settle", 3*time.Second, "idle time before measuring memory")
	fs.StringVar(&c.jsonOut, "json", "", "write the report as JSON to this file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	u, err := url.Parse(c.server)
	if err != nil || u.Host == "" {
		return fmt.Errorf("-server must be http://host:port")
	}
	if h := u.Hostname(); h != "127.0.0.1" && h != "localhost" && h != "::1" {
		return fmt.Errorf("-server must be a loopback address, got %s", h)
	}
	if c.drivers <= 0 || c.every <= 0 || c.batch <= 0 || c.batch > 100 {
		return fmt.Errorf("-drivers, -every must be > 0 and -batch within [1, 100]")
	}
	rep, err := load(ctx, c, out)
	if err != nil {
		return err
	}
	rep.print(out)
	if c.jsonOut != "" {
		b, _ := json.MarshalIndent(rep, "", "  ")
		if err := os.WriteFile(c.jsonOut, b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

type report struct {
	Drivers          int     `json:"drivers"`
	Connected        int64   `json:"connected"`
	DialErrors       int64   `json:"dial_errors"`
	IdleRSSPerConnB  float64 `json:"idle_rss_per_conn_bytes"`
	IdleHeapPerConnB float64 `json:"idle_heap_per_conn_bytes"`
	ServerGoroutines float64 `json:"server_goroutines"`
	Every            string  `json:"every"`
	Batch            int     `json:"batch"`
	DurationS        float64 `json:"duration_s"`
	FramesSent       int64   `json:"frames_sent"`
	FixesSent        int64   `json:"fixes_sent"`
	FixesIngested    float64 `json:"fixes_ingested"`
	IngestPerSec     float64 `json:"ingest_per_s"`
	LagP50Ms         float64 `json:"lag_p50_ms"`
	LagP99Ms         float64 `json:"lag_p99_ms"`
	ServerErrors     int64   `json:"error_frames"`
	Closed           int64   `json:"closed_by_server"`
}

func (r report) print(w io.Writer) {
	fmt.Fprintf(w, "connections      %d/%d (dial errors %d)\n", r.Connected, r.Drivers, r.DialErrors)
	fmt.Fprintf(w, "idle memory      %.0f B RSS / %.0f B heap per connection (server goroutines %.0f)\n", r.IdleRSSPerConnB, r.IdleHeapPerConnB, r.ServerGoroutines)
	fmt.Fprintf(w, "load             every %s, %d fix(es) per frame, %.1fs\n", r.Every, r.Batch, r.DurationS)
	fmt.Fprintf(w, "sent             %d frames, %d fixes\n", r.FramesSent, r.FixesSent)
	fmt.Fprintf(w, "ingested         %.0f fixes, %.0f fixes/s\n", r.FixesIngested, r.IngestPerSec)
	fmt.Fprintf(w, "send→index lag   p50 %.2f ms, p99 %.2f ms\n", r.LagP50Ms, r.LagP99Ms)
	fmt.Fprintf(w, "server replies   %d error frames, %d connections closed by the server\n", r.ServerErrors, r.Closed)
}

type driverConn struct {
	ws  *websocket.Conn
	lat float64
	lon float64
	rng *rand.Rand
}

func load(ctx context.Context, c config, out io.Writer) (report, error) {
	rep := report{Drivers: c.drivers, Every: c.every.String(), Batch: c.batch}
	base := strings.TrimRight(c.server, "/")
	before, err := scrape(ctx, base)
	if err != nil {
		return rep, fmt.Errorf("server metrics: %w", err)
	}
	wsBase := "ws" + strings.TrimPrefix(base, "http")
	dialer := &websocket.Dialer{HandshakeTimeout: 10 * time.Second, ReadBufferSize: 512, WriteBufferSize: 1024}
	conns := make([]*driverConn, c.drivers)
	var errFrames, closed atomic.Int64
	var readers sync.WaitGroup
	tick := time.NewTicker(time.Second / time.Duration(max(c.ramp, 1)))
	for i := range conns {
		select {
		case <-ctx.Done():
			return rep, ctx.Err()
		case <-tick.C:
		}
		ws, _, err := dialer.DialContext(ctx, fmt.Sprintf("%s/v1/driver/ws?driver_id=load-%d", wsBase, i), nil)
		if err != nil {
			rep.DialErrors++
			continue
		}
		rng := rand.New(rand.NewPCG(uint64(i), 42))
		conns[i] = &driverConn{ws: ws, lat: 37.64 + rng.Float64()*0.27, lon: -122.55 + rng.Float64()*0.34, rng: rng}
		rep.Connected++
		readers.Add(1)
		go func() {
			defer readers.Done()
			for {
				_, msg, err := ws.ReadMessage()
				if err != nil {
					if !errors.Is(err, net_closed) && ctx.Err() == nil {
						closed.Add(1)
					}
					return
				}
				if strings.Contains(string(msg), `"type":"error"`) {
					errFrames.Add(1)
				}
			}
		}()
		if rep.Connected%1000 == 0 {
			fmt.Fprintf(out, "opened %d connections\n", rep.Connected)
		}
	}
	tick.Stop()
	defer func() {
		for _, dc := range conns {
			if dc != nil {
				_ = dc.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
				_ = dc.ws.Close()
			}
		}
		readers.Wait()
	}()

	// Idle memory per connection, from the server's own metrics.
	time.Sleep(c.settle)
	idle, err := scrape(ctx, base)
	if err != nil {
		return rep, err
	}
	if rep.Connected > 0 {
		n := float64(rep.Connected)
		rep.IdleRSSPerConnB = math.Round((idle.gauge("process_resident_memory_bytes") - before.gauge("process_resident_memory_bytes")) / n)
		rep.IdleHeapPerConnB = math.Round((idle.gauge("go_memstats_heap_inuse_bytes") + idle.gauge("go_memstats_stack_inuse_bytes") -
			before.gauge("go_memstats_heap_inuse_bytes") - before.gauge("go_memstats_stack_inuse_bytes")) / n)
		rep.ServerGoroutines = idle.gauge("go_goroutines")
	}
	fmt.Fprintf(out, "all connections open; load phase for %s\n", c.duration)

	// Load phase: a few writer goroutines each own a slice of connections.
	var frames, fixes atomic.Int64
	lctx, cancel := context.WithTimeout(ctx, c.duration)
	defer cancel()
	workers := 16
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []*driverConn
			for i := w; i < len(conns); i += workers {
				if conns[i] != nil {
					mine = append(mine, conns[i])
				}
			}
			if len(mine) == 0 {
				return
			}
			gap := c.every / time.Duration(len(mine))
			buf := make([]byte, 0, 256*c.batch)
			next := time.Now()
			for i := 0; ; i = (i + 1) % len(mine) {
				next = next.Add(gap)
				if d := time.Until(next); d > 0 {
					select {
					case <-lctx.Done():
						return
					case <-time.After(d):
					}
				} else if lctx.Err() != nil {
					return
				}
				dc := mine[i]
				buf = frame(buf[:0], dc, c.batch)
				_ = dc.ws.SetWriteDeadline(time.Now().Add(5 * time.Second))
				if err := dc.ws.WriteMessage(websocket.TextMessage, buf); err != nil {
					continue
				}
				frames.Add(1)
				fixes.Add(int64(c.batch))
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	time.Sleep(500 * time.Millisecond) // let the last frames land
	after, err := scrape(ctx, base)
	if err != nil {
		return rep, err
	}
	rep.DurationS = math.Round(elapsed.Seconds()*10) / 10
	rep.FramesSent, rep.FixesSent = frames.Load(), fixes.Load()
	rep.FixesIngested = after.counter("dispatch_fixes_accepted_total") - idle.counter("dispatch_fixes_accepted_total")
	rep.IngestPerSec = math.Round(rep.FixesIngested / elapsed.Seconds())
	rep.LagP50Ms, rep.LagP99Ms = lagQuantiles(idle, after)
	rep.ServerErrors, rep.Closed = errFrames.Load(), closed.Load()
	return rep, nil
}

var net_closed = websocket.ErrCloseSent

// frame encodes one location (batch 1) or locations frame, moving the
// driver a few metres per fix; ts is this machine's clock (the server's
// too: loopback), so the server can measure the send-to-index lag.
func frame(buf []byte, dc *driverConn, batch int) []byte {
	now := time.Now().UnixMilli()
	step := func() {
		dc.lat += (dc.rng.Float64() - 0.5) * 0.0002
		dc.lon += (dc.rng.Float64() - 0.5) * 0.0002
	}
	if batch == 1 {
		step()
		return fmt.Appendf(buf, `{"type":"location","lat":%.6f,"lon":%.6f,"ts":%d}`, dc.lat, dc.lon, now)
	}
	buf = append(buf, `{"type":"locations","points":[`...)
	for i := 0; i < batch; i++ {
		step()
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = fmt.Appendf(buf, `{"lat":%.6f,"lon":%.6f,"ts":%d}`, dc.lat, dc.lon, now-int64(batch-1-i))
	}
	return append(buf, "]}"...)
}

type metricsSnap map[string]*dto.MetricFamily

func scrape(ctx context.Context, base string) (metricsSnap, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("server unreachable: %w", err)
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("parse /metrics: %w", err)
	}
	return fams, nil
}

func (m metricsSnap) gauge(name string) float64 {
	f, ok := m[name]
	if !ok || len(f.Metric) == 0 {
		return 0
	}
	if g := f.Metric[0].GetGauge(); g != nil {
		return g.GetValue()
	}
	return 0
}

func (m metricsSnap) counter(name string) float64 {
	f, ok := m[name]
	if !ok || len(f.Metric) == 0 {
		return 0
	}
	return f.Metric[0].GetCounter().GetValue()
}

// lagQuantiles estimates p50/p99 (ms) of the lag histogram observed
// between two scrapes (linear within a bucket).
func lagQuantiles(a, b metricsSnap) (float64, float64) {
	get := func(m metricsSnap) (*dto.Histogram, bool) {
		f, ok := m["dispatch_fix_ingest_lag_seconds"]
		if !ok || len(f.Metric) == 0 {
			return nil, false
		}
		return f.Metric[0].GetHistogram(), true
	}
	hb, ok := get(b)
	if !ok {
		return 0, 0
	}
	ha, _ := get(a)
	type bk struct{ le, n float64 }
	var bks []bk
	for i, x := range hb.GetBucket() {
		n := float64(x.GetCumulativeCount())
		if ha != nil && i < len(ha.GetBucket()) {
			n -= float64(ha.GetBucket()[i].GetCumulativeCount())
		}
		bks = append(bks, bk{x.GetUpperBound(), n})
	}
	total := float64(hb.GetSampleCount())
	if ha != nil {
		total -= float64(ha.GetSampleCount())
	}
	sort.Slice(bks, func(i, j int) bool { return bks[i].le < bks[j].le })
	q := func(p float64) float64 {
		if total == 0 {
			return 0
		}
		target, prevLe, prevN := p*total, 0.0, 0.0
		for _, x := range bks {
			if x.n >= target {
				if x.n == prevN {
					return x.le * 1000
				}
				return (prevLe + (x.le-prevLe)*(target-prevN)/(x.n-prevN)) * 1000
			}
			prevLe, prevN = x.le, x.n
		}
		return math.Inf(1)
	}
	return math.Round(q(0.5)*100) / 100, math.Round(q(0.99)*100) / 100
}
