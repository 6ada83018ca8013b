package realtime

import (
	"context"
	"encoding/json"
	"sync"
)

// Envelope kinds: what Envelope.Target names.
const (
	// KindDriver targets the connection of driver Target.
	KindDriver = "driver"
	// KindRide targets every rider connection following ride Target.
	KindRide = "ride"
	// KindSession announces that driver Target opened a connection on
	// some node; older connections of that driver elsewhere close with
	// CloseReplaced. Payload is a sessionNotice.
	KindSession = "session"
)

// Envelope is one message routed between nodes. Its JSON form is what a
// networked Broker sends.
type Envelope struct {
	// Kind is KindDriver, KindRide or KindSession.
	Kind string `json:"kind"`
	// Target is the driver or ride id.
	Target string `json:"target"`
	// Type is the wire message type of Payload ("offer", "ride", …), so
	// that receivers can coalesce driver_location without parsing.
	Type string `json:"type,omitempty"`
	// Payload is the wire message, sent to clients byte for byte.
	// Receivers must not modify it.
	Payload json.RawMessage `json:"payload"`
}

// Broker carries Envelopes to every node, this one included. Delivery is
// best effort, like the Notifier it serves: a message published while a
// node is not subscribed may be lost.
type Broker interface {
	// Publish sends env to every current subscriber on every node.
	Publish(ctx context.Context, env Envelope) error
	// Subscribe registers deliver and returns once the subscription is
	// active. deliver may be called from several goroutines at once; it
	// must not block and must not call Publish. stop unsubscribes; once
	// it has returned, deliver is not called again.
	Subscribe(ctx context.Context, deliver func(Envelope)) (stop func(), err error)
}

// MemoryBroker is the single-node Broker: Publish calls every subscriber
// synchronously. The zero value is ready to use.
type MemoryBroker struct {
	mu   sync.RWMutex // read-locked while delivering; write-locked to change subs
	subs map[uint64]func(Envelope)
	next uint64
}

var _ Broker = (*MemoryBroker)(nil)

// NewMemoryBroker returns an empty MemoryBroker.
func NewMemoryBroker() *MemoryBroker { return &MemoryBroker{} }

// Publish delivers env to every subscriber before returning. It never
// fails.
func (b *MemoryBroker) Publish(_ context.Context, env Envelope) error {
	b.mu.RLock()
	defer b.mu.RUnlock()
	for _, deliver := range b.subs {
		deliver(env)
	}
	return nil
}

// Subscribe registers deliver. It never fails.
func (b *MemoryBroker) Subscribe(_ context.Context, deliver func(Envelope)) (func(), error) {
	b.mu.Lock()
	if b.subs == nil {
		b.subs = make(map[uint64]func(Envelope))
	}
	b.next++
	id := b.next
	b.subs[id] = deliver
	b.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			b.mu.Lock()
			delete(b.subs, id)
			b.mu.Unlock()
		})
	}, nil
}
