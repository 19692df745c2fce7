package store

import (
	"context"
	"sync"
)

// Hub fans changes out to the Listen calls of one process: the Changes of
// a store that has no other replica (SQLite). Safe for concurrent use; the
// zero value is ready. Notify never blocks: each listener keeps the set of
// topics not yet handed to it.
type Hub struct {
	mu        sync.Mutex
	listeners map[*hubListener]struct{}
}

type hubListener struct {
	mu      sync.Mutex
	pending map[Topic]struct{}
	wake    chan struct{}
}

// Notify tells every listener that topic changed.
func (h *Hub) Notify(topic Topic) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for l := range h.listeners {
		l.mu.Lock()
		l.pending[topic] = struct{}{}
		l.mu.Unlock()
		select {
		case l.wake <- struct{}{}:
		default:
		}
	}
}

// Listen implements Changes.Listen for this process's changes.
func (h *Hub) Listen(ctx context.Context, fn func(Topic)) error {
	l := &hubListener{pending: map[Topic]struct{}{}, wake: make(chan struct{}, 1)}
	h.mu.Lock()
	if h.listeners == nil {
		h.listeners = map[*hubListener]struct{}{}
	}
	h.listeners[l] = struct{}{}
	h.mu.Unlock()
	defer func() {
		h.mu.Lock()
		delete(h.listeners, l)
		h.mu.Unlock()
	}()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-l.wake:
		}
		l.mu.Lock()
		topics := make([]Topic, 0, len(l.pending))
		for t := range l.pending {
			topics = append(topics, t)
		}
		clear(l.pending)
		l.mu.Unlock()
		for _, t := range topics {
			fn(t)
		}
	}
}
