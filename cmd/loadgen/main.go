// Command loadgen load-tests a running dispatchd's location ingest over
// loopback: it opens N driver WebSocket connections, measures the server's
// memory per idle connection, then has every connection send a frame (one
// fix, or a locations batch) every interval and reports the ingest rate
// and the send-to-index latency. It stops by itself after -duration.
//
// Server figures come from the server's own /metrics: process RSS, Go heap
// and stacks, dispatch_fixes_accepted_total and the
// dispatch_fix_ingest_lag_seconds histogram (server clock minus the fix's
// ts, so 1 ms resolution). The tool also measures a finer latency itself:
// after a sample of frames it sends a WebSocket ping, which the server
// answers only once it has handled the frames before it, so the ping's
// round trip bounds the time from send to index from above.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// maxBatch is the largest -batch: its frame (about 55 bytes a fix) stays
// under the server's 4096-byte frame limit.
const maxBatch = 64

type config struct {
	server     string
	drivers    int
	every      time.Duration
	batch      int
	duration   time.Duration
	ramp       int
	settle     time.Duration
	gcWait     time.Duration
	probeEvery int
	workers    int
	hold       time.Duration
	jsonOut    string
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
	c, err := parseFlags(args, out)
	if err != nil {
		return err
	}
	rep, err := load(ctx, c, out)
	if err != nil {
		return err
	}
	rep.print(out)
	if c.jsonOut != "" {
		b, err := json.MarshalIndent(rep, "", "  ")
		if err != nil {
			return fmt.Errorf("report: %w", err)
		}
		if err := os.WriteFile(c.jsonOut, b, 0o644); err != nil {
			return fmt.Errorf("report: %w", err)
		}
	}
	return nil
}

func parseFlags(args []string, out io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.StringVar(&c.server, "server", "http://127.0.0.1:8080", "dispatchd base URL (loopback)")
	fs.IntVar(&c.drivers, "drivers", 1000, "driver connections to open")
	fs.DurationVar(&c.every, "every", time.Second, "interval between a connection's frames")
	fs.IntVar(&c.batch, "batch", 1, "fixes per frame (1: location; >1: a locations batch)")
	fs.DurationVar(&c.duration, "duration", 20*time.Second, "length of the load phase (0: measure idle memory only)")
	fs.IntVar(&c.ramp, "ramp", 2000, "connections opened per second")
	fs.DurationVar(&c.settle, "settle", 3*time.Second, "idle time after the ramp before measuring memory")
	fs.DurationVar(&c.gcWait, "gc-wait", 150*time.Second, "longest wait for a server GC before measuring memory (the server forces one every 2 min)")
	fs.IntVar(&c.probeEvery, "probe-every", 20, "follow every Nth frame with a ping to time it (0: no probes)")
	fs.IntVar(&c.workers, "workers", 16, "sending goroutines")
	fs.DurationVar(&c.hold, "hold", 0, "keep the connections open this long after the report (to inspect the server)")
	fs.StringVar(&c.jsonOut, "json", "", "write the report as JSON to this file")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if err := c.validate(); err != nil {
		return c, err
	}
	return c, nil
}

func (c config) validate() error {
	if _, err := loopbackHost(c.server); err != nil {
		return err
	}
	switch {
	case c.drivers <= 0:
		return errors.New("-drivers must be > 0")
	case c.every <= 0:
		return errors.New("-every must be > 0")
	case c.batch < 1 || c.batch > maxBatch:
		return fmt.Errorf("-batch must be within [1, %d] (a frame must stay under the server's 4096-byte limit)", maxBatch)
	case c.duration < 0:
		return errors.New("-duration must be >= 0")
	case c.ramp <= 0:
		return errors.New("-ramp must be > 0")
	case c.workers <= 0:
		return errors.New("-workers must be > 0")
	case c.probeEvery < 0:
		return errors.New("-probe-every must be >= 0")
	case c.hold < 0:
		return errors.New("-hold must be >= 0")
	}
	return nil
}

type report struct {
	Drivers          int     `json:"drivers"`
	Connected        int64   `json:"connected"`
	DialErrors       int64   `json:"dial_errors"`
	RampS            float64 `json:"ramp_s"`
	GCObserved       bool    `json:"gc_observed"`
	IdleRSSPerConnB  float64 `json:"idle_rss_per_conn_bytes"`
	IdleHeapPerConnB float64 `json:"idle_heap_stack_per_conn_bytes"`
	IdleStackPerConn float64 `json:"idle_stack_per_conn_bytes"`
	ServerGoroutines float64 `json:"server_goroutines"`
	Every            string  `json:"every"`
	Batch            int     `json:"batch"`
	DurationS        float64 `json:"duration_s"`
	FramesSent       int64   `json:"frames_sent"`
	FixesSent        int64   `json:"fixes_sent"`
	SendPerSec       float64 `json:"send_fixes_per_s"`
	TargetPerSec     float64 `json:"target_fixes_per_s"`
	FixesIngested    float64 `json:"fixes_ingested"`
	IngestPerSec     float64 `json:"ingest_per_s"`
	LagP50Ms         float64 `json:"lag_p50_ms"`
	LagP99Ms         float64 `json:"lag_p99_ms"`
	Probes           int     `json:"probes"`
	ProbeP50Ms       float64 `json:"probe_p50_ms"`
	ProbeP99Ms       float64 `json:"probe_p99_ms"`
	ProbeMaxMs       float64 `json:"probe_max_ms"`
	ServerCPUS       float64 `json:"server_cpu_s"`
	// After the load: the same idle figures once every connection has
	// served frames.
	AfterGCObserved   bool    `json:"after_gc_observed"`
	AfterHeapPerConnB float64 `json:"after_heap_stack_per_conn_bytes"`
	AfterStackPerConn float64 `json:"after_stack_per_conn_bytes"`
	AfterRSSPerConnB  float64 `json:"after_rss_per_conn_bytes"`
	ServerErrors      int64   `json:"error_frames"`
	FirstError        string  `json:"first_error,omitempty"`
	Closed            int64   `json:"closed_by_server"`
}

func lagText(ms float64) string {
	if ms < 0 {
		return "> 5 s"
	}
	return fmt.Sprintf("%.2f ms", ms)
}

func (r report) print(w io.Writer) {
	gc := "after a server GC"
	if !r.GCObserved {
		gc = "NO server GC observed: includes garbage"
	}
	fmt.Fprintf(w, "connections      %d/%d (dial errors %d) in %.1fs\n", r.Connected, r.Drivers, r.DialErrors, r.RampS)
	fmt.Fprintf(w, "idle memory      %.0f B heap+stack (%.0f B stack), %.0f B RSS per connection; %s; server goroutines %.0f\n",
		r.IdleHeapPerConnB, r.IdleStackPerConn, r.IdleRSSPerConnB, gc, r.ServerGoroutines)
	if r.DurationS == 0 {
		return
	}
	fmt.Fprintf(w, "load             every %s, %d fix(es) per frame, %.1fs; target %.0f fixes/s\n", r.Every, r.Batch, r.DurationS, r.TargetPerSec)
	fmt.Fprintf(w, "sent             %d frames, %d fixes, %.0f fixes/s\n", r.FramesSent, r.FixesSent, r.SendPerSec)
	fmt.Fprintf(w, "ingested         %.0f fixes, %.0f fixes/s (server CPU %.1f s)\n", r.FixesIngested, r.IngestPerSec, r.ServerCPUS)
	fmt.Fprintf(w, "send→index lag   p50 %s, p99 %s (server histogram, 1 ms resolution)\n", lagText(r.LagP50Ms), lagText(r.LagP99Ms))
	fmt.Fprintf(w, "probe round trip p50 %.3f ms, p99 %.3f ms, max %.1f ms (%d probes)\n", r.ProbeP50Ms, r.ProbeP99Ms, r.ProbeMaxMs, r.Probes)
	fmt.Fprintf(w, "server replies   %d error frames, %d connections closed by the server\n", r.ServerErrors, r.Closed)
	gc = "after a server GC"
	if !r.AfterGCObserved {
		gc = "NO server GC observed: includes garbage"
	}
	fmt.Fprintf(w, "after the load   %.0f B heap+stack (%.0f B stack), %.0f B RSS per connection; %s\n",
		r.AfterHeapPerConnB, r.AfterStackPerConn, r.AfterRSSPerConnB, gc)
	if r.FirstError != "" {
		fmt.Fprintf(w, "first error      %s\n", r.FirstError)
	}
}
