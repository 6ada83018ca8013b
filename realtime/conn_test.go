package realtime

import (
	"fmt"
	"math"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// dialBare opens a driver connection with a bare gorilla client (no
// goroutine of its own) and reads the welcome.
func dialBare(tb testing.TB, ts *testServer, id string) *websocket.Conn {
	tb.Helper()
	d := &websocket.Dialer{ReadBufferSize: 512, WriteBufferSize: 512, HandshakeTimeout: waitTimeout}
	ws, _, err := d.Dial("ws"+strings.TrimPrefix(ts.url, "http")+"/v1/driver/ws?driver_id="+id, nil)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { ws.Close() })
	_ = ws.SetReadDeadline(time.Now().Add(waitTimeout))
	if _, data, err := ws.ReadMessage(); err != nil || !strings.Contains(string(data), `"welcome"`) {
		tb.Fatalf("welcome: %s %v", data, err)
	}
	return ws
}

// An idle connection costs the server one goroutine (its reader): the
// writer runs only while there is something to write, and one hub-wide
// pinger serves every connection.
func TestConn_OneGoroutinePerIdleConnection(t *testing.T) {
	ts := newTestServer(t, serverOpts{})
	base := runtime.NumGoroutine()
	const n = 20
	for i := range n {
		dialBare(t, ts, fmt.Sprint("d", i))
	}
	waitStats(t, ts.hub, "connected", func(s Stats) bool { return s.DriverConns == n })
	checkFor(t, waitTimeout, func() error {
		// n readers and the pinger; the writers that sent the welcomes
		// have ended.
		if got := runtime.NumGoroutine() - base; got != n+1 {
			return fmt.Errorf("%d goroutines for %d idle connections", got, n)
		}
		return nil
	})
}

// The hub pings every connection each PingPeriod; a client that answers
// stays connected well past PongWait, one that never reads is dropped.
func TestConn_PingAndPongTimeout(t *testing.T) {
	ts := newTestServer(t, serverOpts{hub: HubConfig{PingPeriod: 40 * time.Millisecond, PongWait: 200 * time.Millisecond}})
	alive := dialBare(t, ts, "alive")
	var pings atomic.Int64
	alive.SetPingHandler(func(data string) error {
		pings.Add(1)
		return alive.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(time.Second))
	})
	readErr := make(chan error, 1)
	go func() {
		for {
			if _, _, err := alive.NextReader(); err != nil {
				readErr <- err
				return
			}
		}
	}()
	dialBare(t, ts, "silent") // never reads, so never answers a ping
	ts.d.waitCalls(t, "DriverDisconnected", 1)
	if got := ts.d.callsOf("DriverDisconnected")[0].ID; got != "silent" {
		t.Fatalf("%s was dropped", got)
	}
	// Ten pings take 400 ms, twice PongWait: the answering client is
	// still connected.
	checkFor(t, waitTimeout, func() error {
		if n := pings.Load(); n < 10 {
			return fmt.Errorf("%d pings", n)
		}
		return nil
	})
	select {
	case err := <-readErr:
		t.Fatalf("answering client dropped: %v", err)
	default:
	}
	if s := ts.hub.Stats(); s.DriverConns != 1 {
		t.Fatalf("stats %+v", s)
	}
}

func TestFrameLimiter(t *testing.T) {
	const rate, burst = 20.0, 40
	l := newFrameLimiter(burst, 0)
	now := time.Duration(0)
	for i := range burst {
		if !l.allow(now, rate, burst) {
			t.Fatalf("frame %d of the burst refused", i)
		}
	}
	if l.allow(now, rate, burst) {
		t.Fatal("frame beyond the burst allowed")
	}
	now += 50 * time.Millisecond // one token at 20/s
	if !l.allow(now, rate, burst) || l.allow(now, rate, burst) {
		t.Fatal("want exactly one frame after 50 ms")
	}
	now += time.Hour // refills to the burst, not beyond
	n := 0
	for l.allow(now, rate, burst) {
		n++
	}
	if n != burst {
		t.Fatalf("%d frames after a long pause, want %d", n, burst)
	}
	inf := newFrameLimiter(1, 0)
	for range 100 {
		if !inf.allow(0, math.Inf(1), 1) {
			t.Fatal("infinite rate refused a frame")
		}
	}
}

// A client's ping is answered with its payload (by the writer: the reader
// never writes), and the connection keeps serving frames.
func TestConn_AnswersClientPing(t *testing.T) {
	ts := newTestServer(t, serverOpts{})
	ws := dialBare(t, ts, "d1")
	pongs := make(chan string, 1)
	ws.SetPongHandler(func(data string) error {
		pongs <- data
		return nil
	})
	if err := ws.WriteControl(websocket.PingMessage, []byte("are you there"), time.Now().Add(waitTimeout)); err != nil {
		t.Fatal(err)
	}
	if err := ws.WriteMessage(websocket.TextMessage, []byte(`{"type":"accept","id":"a-1"}`)); err != nil {
		t.Fatal(err)
	}
	_ = ws.SetReadDeadline(time.Now().Add(waitTimeout))
	_, data, err := ws.ReadMessage() // the reply to the bad accept; the pong comes first
	if err != nil {
		t.Fatal(err)
	}
	select {
	case got := <-pongs:
		if got != "are you there" {
			t.Fatalf("pong %q", got)
		}
	default:
		t.Fatal("no pong before the reply")
	}
	if !strings.Contains(string(data), `"ref":"a-1"`) || !strings.Contains(string(data), `"invalid_argument"`) {
		t.Fatalf("reply %s", data)
	}
}
