package realtime

import (
	"fmt"
	"testing"
)

func drain(q *outQueue) []string {
	var out []string
	for {
		m, ok := q.pop()
		if !ok {
			return out
		}
		out = append(out, string(m.data))
	}
}

func TestOutQueue(t *testing.T) {
	msg := func(s string) outMsg { return outMsg{data: []byte(s)} }
	loc := func(s string) outMsg { return outMsg{data: []byte(s), latest: true} }

	t.Run("FIFO", func(t *testing.T) {
		q := newOutQueue()
		want := 0
		for i := range 100 {
			q.push(msg(fmt.Sprint(i)))
			if i%3 == 0 { // interleaved pops move head; growth compacts
				m, _ := q.pop()
				if string(m.data) != fmt.Sprint(want) {
					t.Fatalf("popped %s, want %d", m.data, want)
				}
				want++
			}
		}
		for _, s := range drain(&q) {
			if s != fmt.Sprint(want) {
				t.Fatalf("popped %s, want %d", s, want)
			}
			want++
		}
		if want != 100 || q.len() != 0 {
			t.Fatalf("got %d messages, len %d", want, q.len())
		}
	})
	t.Run("Coalesce", func(t *testing.T) {
		q := newOutQueue()
		q.push(msg("a"))
		q.push(loc("l1"))
		q.push(msg("b"))
		if !q.push(loc("l2")) {
			t.Fatal("l2 did not coalesce")
		}
		q.push(msg("c"))
		if q.push(loc("l3")) != true || q.len() != 4 {
			t.Fatalf("len %d", q.len())
		}
		if got := fmt.Sprint(drain(&q)); got != "[a b c l3]" {
			t.Fatalf("got %s", got)
		}
		// After the latest one was written, the next one queues anew.
		if q.push(loc("l4")) {
			t.Fatal("l4 coalesced with a written message")
		}
	})
	t.Run("CoalesceAfterCompaction", func(t *testing.T) {
		q := newOutQueue()
		for i := range 8 {
			q.push(msg(fmt.Sprint(i)))
		}
		q.push(loc("l1"))
		for range 6 {
			q.pop()
		}
		for i := range 40 { // grows past cap: compacts, moving l1
			q.push(msg(fmt.Sprint("x", i)))
		}
		q.push(loc("l2"))
		got := drain(&q)
		if len(got) != 2+1+40 || got[2] != "x0" || got[len(got)-1] != "l2" {
			t.Fatalf("got %v", got)
		}
	})
	t.Run("PushFront", func(t *testing.T) {
		q := newOutQueue()
		q.push(loc("l1"))
		q.push(msg("a"))
		q.pushFront(msg("w"))
		if !q.push(loc("l2")) {
			t.Fatal("l2 did not coalesce after pushFront")
		}
		q.pop()
		q.pushFront(msg("w2")) // reuses the freed head slot
		if got := fmt.Sprint(drain(&q)); got != "[w2 a l2]" {
			t.Fatalf("got %s", got)
		}
	})
	t.Run("ShrinksWhenEmpty", func(t *testing.T) {
		for _, n := range []int{1, 200} {
			q := newOutQueue()
			for range n {
				q.push(msg("x"))
			}
			drain(&q)
			if cap(q.items) != 0 || q.head != 0 || q.last != -1 {
				t.Fatalf("after %d: cap %d head %d last %d", n, cap(q.items), q.head, q.last)
			}
		}
	})
}
