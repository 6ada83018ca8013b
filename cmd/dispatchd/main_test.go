package main

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestFlagsFromEnv(t *testing.T) {
	t.Setenv("DISPATCHD_ADDR", "127.0.0.1:9999")
	t.Setenv("DISPATCHD_OFFER_COUNT", "3")
	t.Setenv("DISPATCHD_MATCH_TIMEOUT", "45s")
	cfg, _, err := parseFlags([]string{"-radius", "1200"}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Addr != "127.0.0.1:9999" || cfg.Engine.OfferCount != 3 || cfg.Engine.MatchTimeout != 45*time.Second || cfg.Engine.Radius != 1200 {
		t.Fatalf("config: %+v", cfg)
	}
	t.Setenv("DISPATCHD_OFFER_COUNT", "three")
	if _, _, err := parseFlags(nil, &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "DISPATCHD_OFFER_COUNT") {
		t.Fatalf("bad env accepted: %v", err)
	}
}

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// TestRunServesAndShutsDown starts the real binary's run on a free
// loopback port, checks /healthz, then stops it as SIGTERM would.
func TestRunServesAndShutsDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	logs := &syncBuf{}
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"-addr", addr}, logs) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Fatalf("healthz %d", resp.StatusCode)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("server did not come up: %v\n%s", err, logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
	for _, want := range []string{"OPEN DEVELOPMENT MODE", "dispatchd ready", "shutting down"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("logs lack %q:\n%s", want, logs.String())
		}
	}
}
