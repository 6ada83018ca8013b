package redis

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"

	goredis "github.com/redis/go-redis/v9"

	"github.com/ridehail/dispatch/realtime"
)

// Broker carries realtime envelopes between dispatchd nodes over Redis
// pub/sub: every node publishes every envelope to one channel per region
// and delivers what it receives to its own connections. Delivery is best
// effort, like the Notifier it serves (a node that is not subscribed
// misses messages; clients resynchronise from the welcome / ride snapshot
// on reconnect).
type Broker struct {
	client  goredis.UniversalClient
	channel string
	log     *slog.Logger
}

var _ realtime.Broker = (*Broker)(nil)

// NewBroker returns a broker on client for region's channel.
func NewBroker(client goredis.UniversalClient, region string, log *slog.Logger) *Broker {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Broker{client: client, channel: "dispatch:{" + region + "}:events", log: log}
}

// Publish implements realtime.Broker.
func (b *Broker) Publish(ctx context.Context, env realtime.Envelope) error {
	data, err := json.Marshal(env)
	if err != nil {
		return fmt.Errorf("redis broker: encode: %w", err)
	}
	if err := b.client.Publish(ctx, b.channel, data).Err(); err != nil {
		return fmt.Errorf("redis broker: publish: %w", err)
	}
	return nil
}

// Subscribe implements realtime.Broker. It returns once Redis confirmed
// the subscription; go-redis resubscribes by itself after a reconnect.
func (b *Broker) Subscribe(ctx context.Context, deliver func(realtime.Envelope)) (func(), error) {
	ps := b.client.Subscribe(ctx, b.channel)
	if _, err := ps.Receive(ctx); err != nil {
		_ = ps.Close()
		return nil, fmt.Errorf("redis broker: subscribe %s: %w", b.channel, err)
	}
	ch := ps.Channel(goredis.WithChannelSize(4096))
	done := make(chan struct{})
	go func() {
		defer close(done)
		for msg := range ch {
			var env realtime.Envelope
			if err := json.Unmarshal([]byte(msg.Payload), &env); err != nil {
				b.log.Warn("redis broker: bad envelope", "err", err)
				continue
			}
			deliver(env)
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			_ = ps.Close()
			<-done
		})
	}, nil
}
