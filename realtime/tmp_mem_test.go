package realtime

import (
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/gorilla/websocket"
)

func TestTmpStack(t *testing.T) {
	const n = 500
	d := &websocket.Dialer{ReadBufferSize: 512, WriteBufferSize: 512}
	ts := newTestServer(t, serverOpts{})
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	conns := make([]*websocket.Conn, n)
	for i := range conns {
		ws, _, err := d.Dial("ws"+strings.TrimPrefix(ts.url, "http")+"/v1/driver/ws?driver_id="+fmt.Sprint(i), nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := ws.ReadMessage(); err != nil {
			t.Fatal(err)
		}
		conns[i] = ws
	}
	for k := 0; k < 4; k++ {
		runtime.GC()
		runtime.ReadMemStats(&after)
		t.Logf("gc %d: heap %d stack %d per conn, goroutines %d", k, (after.HeapInuse-before.HeapInuse)/n, (after.StackInuse-before.StackInuse)/n, runtime.NumGoroutine())
	}
	buf := make([]byte, 1<<20)
	nn := runtime.Stack(buf, true)
	s := string(buf[:nn])
	i := strings.Index(s, "readLoop")
	j := strings.LastIndex(s[:i], "goroutine ")
	t.Log(s[j : j+2500])
	for _, ws := range conns {
		ws.Close()
	}
}
