package realtime

import (
	"io"
	"sync"
	"time"
)

// workers reads and handles the connections' frames on a pool of
// goroutines: a connection's reader waits for the next frame, hands it to
// a worker and waits until the worker has read and handled it, so that
// the frames of a connection are still handled one at a time and in
// order.
//
// The point is memory. Handling a frame runs deep (decoding, the engine,
// the store, metrics, JSON replies) and would grow the reader's stack
// from 2 KB to 8 KB or more, for good: the runtime halves a stack only
// when less than a quarter of it is in use, counting 800 bytes of guard,
// which a goroutine blocked in a read (about 1 KB deep) never is below
// 4 KB. Handed off, the deep calls run on a few worker stacks that stay
// warm, and the reader of every connection keeps its minimal stack. The
// cost is two goroutine switches per frame (about 1 µs).
//
// A worker is started whenever no idle one is waiting, so a handler
// blocked on I/O never holds up another connection's frames, and a
// worker ends after idle time without work, or once the hub has no
// connection left.
type workers struct {
	jobs chan *job // unbuffered: idle workers receive from it
	idle time.Duration
	pool sync.Pool // *job
}

type job struct {
	c      *conn
	handle func(messageType int, data []byte)
	mt     int
	r      io.Reader     // the frame, read on the worker
	err    error         // reading it failed
	done   chan struct{} // cap 1: the handler returned
}

// workerIdle is how long a worker waits for a job before it ends.
const workerIdle = 2 * time.Second

func newWorkers(idle time.Duration) *workers {
	w := &workers{jobs: make(chan *job), idle: idle}
	w.pool.New = func() any { return &job{done: make(chan struct{}, 1)} }
	return w
}

// do has a worker read frame r of connection c and call handle with it,
// and returns when it is done, with the error of the read.
func (w *workers) do(c *conn, handle func(int, []byte), mt int, r io.Reader) error {
	j := w.pool.Get().(*job)
	j.c, j.handle, j.mt, j.r = c, handle, mt, r
	select {
	case w.jobs <- j:
	default:
		go w.run(j, c.hub.quietChan())
	}
	<-j.done
	err := j.err
	*j = job{done: j.done}
	w.pool.Put(j)
	return err
}

// run is a worker: it runs j, then every job it receives, until it has
// been idle for w.idle or quiet is closed.
func (w *workers) run(j *job, quiet <-chan struct{}) {
	t := time.NewTimer(w.idle)
	defer t.Stop()
	for {
		j.err = j.c.readFrame(j.handle, j.mt, j.r)
		j.done <- struct{}{}
		t.Reset(w.idle)
		select {
		case j = <-w.jobs:
		case <-t.C:
			return
		case <-quiet:
			return
		}
	}
}
