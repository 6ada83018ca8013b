// Package metrics exports the engine's and the HTTP server's figures in the
// Prometheus text format with the Prometheus client library.
package metrics

import (
	"bufio"
	"errors"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/ridehail/dispatch/dispatch"
)

// Metrics owns a registry and the HTTP instruments.
type Metrics struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
}

// New returns a registry with the Go and process collectors.
func New() *Metrics {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m := &Metrics{
		reg: reg,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dispatch_http_requests_total", Help: "HTTP requests by route and status.",
		}, []string{"route", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "dispatch_http_request_seconds", Help: "HTTP request latency by route.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}, []string{"route"}),
	}
	reg.MustRegister(m.requests, m.latency)
	return m
}

// FixLag returns an observer of the delay between a fix's device
// timestamp and its indexing, exported as a histogram.
func (m *Metrics) FixLag() func(time.Duration) {
	h := prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "dispatch_fix_ingest_lag_seconds",
		Help:    "Delay from a fix's device timestamp to its indexing (same-clock load tests).",
		Buckets: []float64{.0005, .001, .002, .005, .01, .02, .05, .1, .2, .5, 1, 2, 5},
	})
	m.reg.MustRegister(h)
	return func(d time.Duration) { h.Observe(d.Seconds()) }
}

// Registry returns the registry, for extra collectors.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves /metrics.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// Gauge registers a gauge read from f at scrape time.
func (m *Metrics) Gauge(name, help string, f func() float64) {
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, f))
}

// Counter registers a counter read from f at scrape time.
func (m *Metrics) Counter(name, help string, f func() float64) {
	m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, f))
}

// Engine exports the engine's counters.
func (m *Metrics) Engine(stats func() dispatch.Stats) {
	c := func(name, help string, get func(dispatch.Stats) int64) {
		m.Counter(name, help, func() float64 { return float64(get(stats())) })
	}
	c("dispatch_rides_requested_total", "Rides requested.", func(s dispatch.Stats) int64 { return s.RidesRequested })
	c("dispatch_rides_assigned_total", "Rides assigned to a driver.", func(s dispatch.Stats) int64 { return s.RidesAssigned })
	c("dispatch_rides_no_driver_total", "Rides that found no driver.", func(s dispatch.Stats) int64 { return s.RidesNoDriver })
	c("dispatch_rides_cancelled_total", "Rides cancelled by riders.", func(s dispatch.Stats) int64 { return s.RidesCancelled })
	c("dispatch_rides_completed_total", "Rides completed.", func(s dispatch.Stats) int64 { return s.RidesCompleted })
	c("dispatch_rides_rematched_total", "Rides sent back to matching by their driver.", func(s dispatch.Stats) int64 { return s.Rematched })
	c("dispatch_offers_sent_total", "Offers sent.", func(s dispatch.Stats) int64 { return s.OffersSent })
	c("dispatch_offers_accepted_total", "Offers accepted and won.", func(s dispatch.Stats) int64 { return s.OffersAccepted })
	c("dispatch_offers_declined_total", "Offers declined.", func(s dispatch.Stats) int64 { return s.OffersDeclined })
	c("dispatch_offers_expired_total", "Offers that timed out.", func(s dispatch.Stats) int64 { return s.OffersExpired })
	c("dispatch_accepts_lost_total", "Accepts that lost the race (offer taken).", func(s dispatch.Stats) int64 { return s.AcceptsLost })
	c("dispatch_fixes_accepted_total", "Location fixes ingested.", func(s dispatch.Stats) int64 { return s.FixesAccepted })
	c("dispatch_fixes_rejected_total", "Location fixes rejected.", func(s dispatch.Stats) int64 { return s.FixesRejected })
	c("dispatch_fenced_writes_total", "Ride writes rejected by the version fence.", func(s dispatch.Stats) int64 { return s.FencedWrites })
}

// Instrument wraps an HTTP handler with request counting and latency by
// the mux's route pattern.
func (m *Metrics) Instrument(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
		mux.ServeHTTP(sw, r)
		route := r.Pattern
		if route == "" {
			_, route = mux.Handler(r)
		}
		m.requests.WithLabelValues(route, strconv.Itoa(sw.code)).Inc()
		m.latency.WithLabelValues(route).Observe(time.Since(start).Seconds())
	})
}

type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	w.code = code
	w.ResponseWriter.WriteHeader(code)
}

// Hijack lets the WebSocket upgrader take over the connection.
func (w *statusWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	h, ok := w.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("response writer cannot hijack")
	}
	w.code = http.StatusSwitchingProtocols
	return h.Hijack()
}

// Unwrap lets http.ResponseController (and the WebSocket upgrader's
// Hijack) reach the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
