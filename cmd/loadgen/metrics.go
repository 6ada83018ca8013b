package main

import (
	"context"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/url"
	"sort"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// loopbackHost checks that server is an http URL on a loopback address and
// returns its host.
func loopbackHost(server string) (string, error) {
	u, err := url.Parse(server)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "ws") {
		return "", fmt.Errorf("-server must be http://host:port, got %q", server)
	}
	h := u.Hostname()
	if h == "localhost" {
		return h, nil
	}
	if ip := net.ParseIP(h); ip == nil || !ip.IsLoopback() {
		return "", fmt.Errorf("-server must be a loopback address, got %s", h)
	}
	return h, nil
}

type metricsSnap map[string]*dto.MetricFamily

func scrape(ctx context.Context, base string) (metricsSnap, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/metrics", nil)
	if err != nil {
		return nil, fmt.Errorf("metrics request: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("server unreachable: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /metrics: %s", resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("parse /metrics: %w", err)
	}
	return fams, nil
}

// scrapeAfterGC scrapes until the server reports a GC that finished after
// since, or wait elapses; it reports whether it saw one. Each scrape
// allocates a little on the server, which brings its next GC nearer; the
// Go runtime forces one every two minutes anyway. After the GC it waits a
// second for the background sweeper to free the dead spans, then scrapes
// the figures it returns.
func scrapeAfterGC(ctx context.Context, base string, since time.Time, wait time.Duration) (metricsSnap, bool, error) {
	deadline := time.Now().Add(wait)
	for {
		m, err := scrape(ctx, base)
		if err != nil {
			return nil, false, err
		}
		if last := m.gauge("go_memstats_last_gc_time_seconds"); last > float64(since.UnixNano())/1e9 {
			select {
			case <-ctx.Done():
				return nil, false, ctx.Err()
			case <-time.After(time.Second):
			}
			m, err = scrape(ctx, base)
			return m, err == nil, err
		}
		if time.Now().After(deadline) {
			return m, false, nil
		}
		select {
		case <-ctx.Done():
			return nil, false, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func (m metricsSnap) gauge(name string) float64 {
	f, ok := m[name]
	if !ok || len(f.Metric) == 0 {
		return 0
	}
	if g := f.Metric[0].GetGauge(); g != nil {
		return g.GetValue()
	}
	if c := f.Metric[0].GetCounter(); c != nil {
		return c.GetValue()
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

// heapStack returns the Go heap in use plus the goroutine stacks.
func (m metricsSnap) heapStack() float64 {
	return m.gauge("go_memstats_heap_inuse_bytes") + m.gauge("go_memstats_stack_inuse_bytes")
}

// lagQuantiles estimates p50/p99 (ms) of the lag histogram observed
// between two scrapes (linear within a bucket); -1 means beyond the last
// bucket (5 s).
func lagQuantiles(a, b metricsSnap) (float64, float64) {
	get := func(m metricsSnap) *dto.Histogram {
		f, ok := m["dispatch_fix_ingest_lag_seconds"]
		if !ok || len(f.Metric) == 0 {
			return nil
		}
		return f.Metric[0].GetHistogram()
	}
	hb := get(b)
	if hb == nil {
		return 0, 0
	}
	ha := get(a)
	var bks []bucket
	for i, x := range hb.GetBucket() {
		n := float64(x.GetCumulativeCount())
		if ha != nil && i < len(ha.GetBucket()) {
			n -= float64(ha.GetBucket()[i].GetCumulativeCount())
		}
		bks = append(bks, bucket{x.GetUpperBound(), n})
	}
	total := float64(hb.GetSampleCount())
	if ha != nil {
		total -= float64(ha.GetSampleCount())
	}
	return ms(quantile(bks, total, 0.5)), ms(quantile(bks, total, 0.99))
}

// ms converts seconds to milliseconds (2 decimals); beyond the
// histogram's last bucket (+Inf) it is -1, which JSON can carry.
func ms(s float64) float64 {
	if math.IsInf(s, 1) {
		return -1
	}
	return round2(s * 1000)
}

// bucket is a cumulative histogram bucket: n observations <= le.
type bucket struct{ le, n float64 }

// quantile interpolates the p quantile from cumulative buckets holding
// total observations; +Inf when it lies beyond the last bucket.
func quantile(bks []bucket, total, p float64) float64 {
	if total == 0 {
		return 0
	}
	sort.Slice(bks, func(i, j int) bool { return bks[i].le < bks[j].le })
	target, prevLe, prevN := p*total, 0.0, 0.0
	for _, x := range bks {
		if x.n >= target {
			if x.n == prevN {
				return x.le
			}
			return prevLe + (x.le-prevLe)*(target-prevN)/(x.n-prevN)
		}
		prevLe, prevN = x.le, x.n
	}
	return math.Inf(1)
}

func round2(v float64) float64 { return math.Round(v*100) / 100 }
