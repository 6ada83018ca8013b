package realtime

// outMsg is one queued outbound frame. data is shared between every
// connection the message fans out to and is never modified.
type outMsg struct {
	data []byte
	// latest marks a message only the newest of which matters
	// (driver_location for a rider): a newer one replaces it.
	latest bool
}

// outQueue is a FIFO of outbound frames that may hold at most one
// "latest" message. It is not safe for concurrent use; conn.mu guards it.
// It holds no buffer while empty, so an idle connection costs a few words.
type outQueue struct {
	items []outMsg
	head  int // items[head:] are queued
	last  int // index in items of the queued latest message, or -1
}

func newOutQueue() outQueue { return outQueue{last: -1} }

// len returns the number of queued messages.
func (q *outQueue) len() int { return len(q.items) - q.head }

// push appends m. When m is a latest message and one is already queued,
// the older one is removed first and push reports true (coalesced).
func (q *outQueue) push(m outMsg) (coalesced bool) {
	if m.latest && q.last >= 0 {
		q.remove(q.last)
		coalesced = true
	}
	if len(q.items) == cap(q.items) && q.head > 0 {
		n := copy(q.items, q.items[q.head:])
		clear(q.items[n:])
		if q.last >= 0 {
			q.last -= q.head
		}
		q.items, q.head = q.items[:n], 0
	}
	q.items = append(q.items, m)
	if m.latest {
		q.last = len(q.items) - 1
	}
	return coalesced
}

// pushFront puts m before every queued message.
func (q *outQueue) pushFront(m outMsg) {
	if q.head > 0 {
		q.head--
		q.items[q.head] = m
	} else {
		q.items = append(q.items, outMsg{})
		copy(q.items[1:], q.items)
		q.items[0] = m
		if q.last >= 0 {
			q.last++
		}
	}
	if m.latest {
		if q.last >= 0 {
			q.remove(q.last)
		}
		q.last = q.head
	}
}

// pop removes and returns the oldest message.
func (q *outQueue) pop() (outMsg, bool) {
	if q.head == len(q.items) {
		return outMsg{}, false
	}
	m := q.items[q.head]
	q.items[q.head] = outMsg{}
	if q.last == q.head {
		q.last = -1
	}
	q.head++
	if q.head == len(q.items) {
		q.compactEmpty()
	}
	return m, true
}

// reset drops every queued message and frees the buffer.
func (q *outQueue) reset() { *q = newOutQueue() }

func (q *outQueue) remove(i int) {
	copy(q.items[i:], q.items[i+1:])
	q.items[len(q.items)-1] = outMsg{}
	q.items = q.items[:len(q.items)-1]
	if q.last == i {
		q.last = -1
	} else if q.last > i {
		q.last--
	}
	if q.head == len(q.items) {
		q.compactEmpty()
	}
}

// compactEmpty rewinds an empty queue and drops its buffer: most
// connections are idle most of the time, and an idle one holds none.
func (q *outQueue) compactEmpty() {
	q.head, q.last, q.items = 0, -1, nil
}
