package sim

import (
	"container/heap"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"sort"
	"time"

	"github.com/ridehail/dispatch/dispatch"
	"github.com/ridehail/dispatch/geo"
	"github.com/ridehail/dispatch/internal/trace"
)

// RunOffline replays in against a dispatch engine in-process on a virtual
// clock: the same engine code and the same simulated drivers and riders as
// Run, but no sockets and no sleeps — every fix, offer, answer and timer is
// an event processed in time order, so a day of trips runs in seconds and
// a run is deterministic for a given seed. ecfg tunes the engine (policy,
// N, timeouts); its NewID is replaced by a deterministic sequence.
func RunOffline(ctx context.Context, cfg Config, in Input, ecfg dispatch.Config) (Report, error) {
	cfg.setDefaults()
	cfg.FixEvery = max(cfg.FixEvery, time.Second)
	start, end, err := Window(cfg, in)
	if err != nil {
		return Report{}, err
	}
	speed := cfg.DriveSpeedKmh / 3.6
	if speed <= 0 {
		speed = LearnSpeed(in.Vehicles, cfg.Gap)
	}
	wall0 := time.Now()
	o := &offline{clock: &virtualClock{t: start}, col: newCollector(), vehicles: map[string]*vehicle{}, rides: map[string]*rideWatch{}}
	seq := 0
	ecfg.NewID = func() string { seq++; return fmt.Sprintf("ride-%06d", seq) }
	eng, err := dispatch.New(ecfg, dispatch.Deps{Clock: o.clock, Notifier: o})
	if err != nil {
		return Report{}, err
	}
	o.eng = eng
	stop := end.Add(cfg.Drain)

	var ids []string
	for _, v := range in.Vehicles {
		if len(v.Fixes) == 0 || !v.Fixes[len(v.Fixes)-1].T.After(start) || v.Fixes[0].T.After(end) {
			continue
		}
		h := fnv.New64a()
		h.Write([]byte(v.ID))
		ag := &vehicle{
			id: v.ID, segs: trace.Segments(v.Fixes, cfg.Gap), cfg: &cfg, col: o.col, clock: o.clock,
			rng: rand.New(rand.NewPCG(uint64(cfg.Seed), h.Sum64())), speed: speed, offers: map[string]float64{},
		}
		ag.conn = &offlineConn{o: o, id: v.ID}
		o.vehicles[v.ID] = ag
		ids = append(ids, v.ID)
		o.col.vehicles.Add(1)
	}
	if len(ids) == 0 {
		return Report{}, errors.New("no vehicle has fixes inside the window")
	}
	sort.Strings(ids)
	for i, id := range ids {
		// Stagger the vehicles' fixes over one interval.
		off := time.Duration(int64(cfg.FixEvery) * int64(i) / int64(len(ids)))
		if _, err := eng.DriverConnected(ctx, id); err != nil {
			return Report{}, err
		}
		o.vehicles[id].sendStatus(ctx, "offline")
		o.push(start.Add(off), evStep, id, nil)
	}
	trips := 0
	for i, t := range in.Trips {
		if !t.PickupT.Before(start) && t.PickupT.Before(end) {
			t := t
			o.push(t.PickupT, evRequest, cfg.prefixed(fmt.Sprintf("rider-%d", i+1)), &t)
			trips++
		}
	}
	o.push(start, evTick, "", nil)
	rng := rand.New(rand.NewPCG(uint64(cfg.Seed), 0x5eed))

	for o.q.Len() > 0 {
		if err := ctx.Err(); err != nil {
			return Report{}, err
		}
		ev := heap.Pop(&o.q).(*event)
		if ev.at.After(stop) {
			break
		}
		o.clock.t = ev.at
		now := ev.at
		switch ev.kind {
		case evTick:
			if err := eng.Tick(ctx); err != nil {
				return Report{}, fmt.Errorf("engine tick: %w", err)
			}
			if o.openRides > 0 || now.Before(end) {
				o.push(now.Add(time.Second), evTick, "", nil)
			}
		case evStep:
			v := o.vehicles[ev.id]
			v.firePending(ctx, now)
			if now.Before(end) || v.mode == modeTrip || o.openRides > 0 {
				v.step(ctx, now)
				o.push(now.Add(cfg.FixEvery), evStep, ev.id, nil)
			}
		case evReply:
			o.vehicles[ev.id].firePending(ctx, now)
		case evRequest:
			dropoff := ev.trip.Dropoff
			if !ev.trip.HasDropoff {
				dropoff = randomDropoff(rng, ev.trip.Pickup)
			}
			r, _, err := eng.RequestRide(ctx, ev.id, dispatch.RideRequest{Pickup: ev.trip.Pickup, Dropoff: dropoff}, "")
			if err != nil {
				o.col.requestError(dispatch.ErrorCode(err))
				break
			}
			o.col.requests.Add(1)
			o.rides[r.ID] = &rideWatch{requested: now}
			o.openRides++
		}
		o.drain(ctx)
	}
	rep := o.col.report(in.CleanStats, trips, in.TripStats, in.TripFileStats)
	rep.SimStart, rep.SimEnd = start.UTC().Format(time.RFC3339), end.UTC().Format(time.RFC3339)
	rep.Speed, rep.Seed = 0, cfg.Seed
	rep.WallClockS = round2(time.Since(wall0).Seconds())
	return rep, nil
}

type virtualClock struct{ t time.Time }

func (c *virtualClock) Now() time.Time { return c.t }

type evKind int

const (
	evTick evKind = iota
	evStep
	evReply
	evRequest
)

type event struct {
	at   time.Time
	seq  int
	kind evKind
	id   string
	trip *trace.Trip
}

type eventQueue []*event

func (q eventQueue) Len() int { return len(q) }
func (q eventQueue) Less(i, j int) bool {
	if !q[i].at.Equal(q[j].at) {
		return q[i].at.Before(q[j].at)
	}
	return q[i].seq < q[j].seq
}
func (q eventQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *eventQueue) Push(x any)   { *q = append(*q, x.(*event)) }
func (q *eventQueue) Pop() any {
	old := *q
	e := old[len(old)-1]
	*q = old[:len(old)-1]
	return e
}

// offline is the event loop; it is also the engine's Notifier, queueing
// events for delivery after the action that caused them.
type offline struct {
	eng       *dispatch.Engine
	clock     *virtualClock
	col       *collector
	q         eventQueue
	seq       int
	vehicles  map[string]*vehicle
	rides     map[string]*rideWatch
	openRides int
	outbox    []delivery
}

type delivery struct {
	driverID, rideID string
	msg              Msg
}

func (o *offline) push(at time.Time, kind evKind, id string, trip *trace.Trip) {
	o.seq++
	heap.Push(&o.q, &event{at: at, seq: o.seq, kind: kind, id: id, trip: trip})
}

func toMsg(ev dispatch.Event) Msg {
	raw, _ := json.Marshal(ev)
	return Msg{Type: ev.EventType(), Raw: raw}
}

// NotifyDriver implements dispatch.Notifier.
func (o *offline) NotifyDriver(_ context.Context, id string, ev dispatch.Event) {
	o.outbox = append(o.outbox, delivery{driverID: id, msg: toMsg(ev)})
}

// NotifyRide implements dispatch.Notifier.
func (o *offline) NotifyRide(_ context.Context, id string, ev dispatch.Event) {
	o.outbox = append(o.outbox, delivery{rideID: id, msg: toMsg(ev)})
}

// drain delivers queued events in order; deliveries may queue more.
func (o *offline) drain(ctx context.Context) {
	for len(o.outbox) > 0 {
		d := o.outbox[0]
		o.outbox = o.outbox[1:]
		now := o.clock.Now()
		if d.driverID != "" {
			v, ok := o.vehicles[d.driverID]
			if !ok {
				continue
			}
			before := len(v.pending)
			v.handle(ctx, d.msg)
			if n := len(v.pending); n > before {
				o.push(v.pending[n-1].at, evReply, v.id, nil) // an offer queued an answer
			}
			continue
		}
		if d.msg.Type != "ride" {
			continue
		}
		w, ok := o.rides[d.rideID]
		if !ok {
			continue
		}
		var rm rideMsg
		if json.Unmarshal(d.msg.Raw, &rm) != nil {
			continue
		}
		if !w.done && o.col.rideStatus(w, rm.Ride.Status, now) {
			o.openRides--
		}
	}
}

// offlineConn is a vehicle's "socket": each frame it sends is one engine
// call, answered the way the realtime layer answers it.
type offlineConn struct {
	o  *offline
	id string
}

func (c *offlineConn) Send(ctx context.Context, v any) error {
	m, ok := v.(map[string]any)
	if !ok {
		return errors.New("offline: unexpected frame")
	}
	e := c.o.eng
	str := func(k string) string { s, _ := m[k].(string); return s }
	num := func(k string) float64 { f, _ := m[k].(float64); return f }
	var err error
	switch str("type") {
	case "status":
		_, err = e.SetDriverStatus(ctx, c.id, dispatch.DriverStatus(str("status")))
	case "location":
		ts, _ := m["ts"].(int64)
		err = e.UpdateLocation(ctx, c.id, dispatch.Fix{Lat: num("lat"), Lon: num("lon"), TS: ts})
	case "accept":
		_, err = e.Accept(ctx, c.id, str("offer_id"))
	case "decline":
		err = e.Decline(ctx, c.id, str("offer_id"))
	case "arrived":
		_, err = e.Arrived(ctx, c.id, str("ride_id"))
	case "start":
		_, err = e.Start(ctx, c.id, str("ride_id"))
	case "complete":
		_, err = e.Complete(ctx, c.id, str("ride_id"), 0)
	}
	switch dispatch.ErrorCode(err) {
	case "", dispatch.CodeOfferTaken, dispatch.CodeOfferExpired, dispatch.CodeOfferCanceled:
		return nil // a lost race is answered by the engine's offer_revoked
	}
	ref := str("type")
	raw, _ := json.Marshal(map[string]string{"type": "error", "code": dispatch.ErrorCode(err), "message": dispatch.ErrorMessage(err), "ref": ref})
	c.o.outbox = append(c.o.outbox, delivery{driverID: c.id, msg: Msg{Type: "error", Raw: raw}})
	return nil
}

func (c *offlineConn) Messages() <-chan Msg { return nil }
func (c *offlineConn) Close() error         { return nil }

func randomDropoff(rng *rand.Rand, p geo.Point) geo.Point {
	d := 1000 + rng.Float64()*5000
	ang := rng.Float64() * 2 * 3.141592653589793
	dlat := d * cos(ang) / 111195
	dlon := d * sin(ang) / (111195 * cos(p.Lat*3.141592653589793/180))
	return geo.Point{Lat: p.Lat + dlat, Lon: p.Lon + dlon}
}
