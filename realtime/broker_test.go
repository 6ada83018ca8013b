package realtime

import (
	"context"
	"encoding/json"
	"sync/atomic"
	"testing"
)

func TestMemoryBroker(t *testing.T) {
	var b MemoryBroker // the zero value works
	ctx := context.Background()
	var n1, n2 atomic.Int64
	stop1, err := b.Subscribe(ctx, func(e Envelope) { n1.Add(1) })
	if err != nil {
		t.Fatal(err)
	}
	stop2, _ := b.Subscribe(ctx, func(e Envelope) {
		if e.Kind != KindDriver || e.Target != "d1" || string(e.Payload) != `{"type":"x"}` {
			t.Errorf("envelope %+v", e)
		}
		n2.Add(1)
	})
	env := Envelope{Kind: KindDriver, Target: "d1", Type: "x", Payload: json.RawMessage(`{"type":"x"}`)}
	if err := b.Publish(ctx, env); err != nil {
		t.Fatal(err)
	}
	stop1()
	stop1() // idempotent
	_ = b.Publish(ctx, env)
	stop2()
	_ = b.Publish(ctx, env)
	if n1.Load() != 1 || n2.Load() != 2 {
		t.Fatalf("deliveries %d, %d", n1.Load(), n2.Load())
	}
}

// TestEnvelopeJSON pins the serialised form a networked broker sends: the
// payload travels as embedded JSON, byte for byte.
func TestEnvelopeJSON(t *testing.T) {
	env := Envelope{Kind: KindRide, Target: "r1", Type: "driver_location", Payload: json.RawMessage(`{"type":"driver_location","lat":1.5}`)}
	b, err := json.Marshal(env)
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"kind":"ride","target":"r1","type":"driver_location","payload":{"type":"driver_location","lat":1.5}}`
	if string(b) != want {
		t.Fatalf("got  %s\nwant %s", b, want)
	}
	var back Envelope
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.Kind != env.Kind || back.Target != env.Target || back.Type != env.Type || string(back.Payload) != string(env.Payload) {
		t.Fatalf("round trip %+v", back)
	}
}
