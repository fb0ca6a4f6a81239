package main

import (
	"sync"
	"sync/atomic"
	"time"
)

// fixedRate is the schedule of a -rate run: slot k is due at start + k*interval,
// for every k whose due time is before the end. Workers claim slots in order
// as they become free; nothing computes a slot before a worker takes it (a
// goroutine filling a queue ahead of them would hold the only P of a client
// pinned to one CPU while the run's first calls wait).
type fixedRate struct {
	start    time.Time
	interval time.Duration
	slots    int64
	next     atomic.Int64
}

func newFixedRate(start time.Time, rate int, duration time.Duration) *fixedRate {
	interval := time.Second / time.Duration(rate)
	slots := int64((duration + interval - 1) / interval)
	return &fixedRate{start: start, interval: interval, slots: slots}
}

// claim takes the next slot: its number and due time, or ok false when the
// schedule is over.
func (f *fixedRate) claim() (n int, due time.Time, ok bool) {
	k := f.next.Add(1) - 1
	if k >= f.slots {
		return 0, time.Time{}, false
	}
	return int(k), f.start.Add(time.Duration(k) * f.interval), true
}

// runFixedRate sends slot n's request (call(n)) with workers goroutines and
// records each call's latency. Latency counts from the due time when the
// worker is behind (no coordinated omission), but from the send when it
// slept: Go's timers wake up to ~1 ms late on an idle Linux runtime, a client
// artefact, not server time.
func runFixedRate(f *fixedRate, workers int, call func(n int) error, record func(time.Duration, error)) {
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				n, due, ok := f.claim()
				if !ok {
					return
				}
				began := due
				if wait := time.Until(due); wait > 0 {
					time.Sleep(wait)
					began = time.Now()
				}
				err := call(n)
				record(time.Since(began), err)
			}
		}()
	}
	wg.Wait()
}

// runSaturated sends back to back with workers goroutines until end.
func runSaturated(end time.Time, workers int, call func(n int) error, record func(time.Duration, error)) {
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for n := w; time.Now().Before(end); n += workers {
				began := time.Now()
				err := call(n)
				record(time.Since(began), err)
			}
		}(w)
	}
	wg.Wait()
}
