package waiting

import "sync"

// signal wakes every poll at once: each takes the channel of the current
// round (wait) before it reads the store, and fire closes it, so that a
// change made between the read and the wait is not missed. The zero value
// is ready.
type signal struct {
	mu sync.Mutex
	ch chan struct{}
}

// wait is the channel the next fire closes.
func (s *signal) wait() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ch == nil {
		s.ch = make(chan struct{})
	}
	return s.ch
}

// fire wakes everyone waiting.
func (s *signal) fire() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ch != nil {
		close(s.ch)
		s.ch = nil
	}
}
