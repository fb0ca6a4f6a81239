package main

import (
	"sync"
	"testing"
	"time"
)

func TestFixedRateSlotsAreDueAtEveryIntervalUntilTheEnd(t *testing.T) {
	start := time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		duration time.Duration
		want     int
	}{{time.Second, 4}, {1100 * time.Millisecond, 5}, {time.Millisecond, 1}} {
		f := newFixedRate(start, 4, tc.duration)
		for k := 0; k < tc.want; k++ {
			n, due, ok := f.claim()
			if !ok || n != k || !due.Equal(start.Add(time.Duration(k)*250*time.Millisecond)) {
				t.Fatalf("%v: claim %d = (%d, %v, %v)", tc.duration, k, n, due, ok)
			}
		}
		if _, _, ok := f.claim(); ok {
			t.Fatalf("%v: more than %d slots", tc.duration, tc.want)
		}
	}
}

func TestFixedRateSendsEverySlotOnceAndCountsFromTheDueTimeWhenBehind(t *testing.T) {
	// Every slot was due an hour ago: the workers are behind from the start.
	f := newFixedRate(time.Now().Add(-time.Hour), 1000, 200*time.Millisecond)
	var mu sync.Mutex
	sent := map[int]int{}
	var latencies []time.Duration
	runFixedRate(f, 7, func(n int) error {
		mu.Lock()
		sent[n]++
		mu.Unlock()
		return nil
	}, func(d time.Duration, err error) {
		mu.Lock()
		latencies = append(latencies, d)
		mu.Unlock()
	})
	if len(sent) != 200 || len(latencies) != 200 {
		t.Fatalf("%d distinct slots sent, %d recorded; want 200 each", len(sent), len(latencies))
	}
	for n := 0; n < 200; n++ {
		if sent[n] != 1 {
			t.Fatalf("slot %d sent %d times", n, sent[n])
		}
	}
	for _, d := range latencies {
		if d < 50*time.Minute {
			t.Fatalf("latency %v counted from the send, not from the due time", d)
		}
	}
}

func TestFixedRateClaimsNoSlotAheadOfItsWorkers(t *testing.T) {
	f := newFixedRate(time.Now().Add(-time.Hour), 1000, 10*time.Second)
	entered, release := make(chan int), make(chan struct{})
	done := make(chan struct{})
	go func() {
		runFixedRate(f, 3, func(n int) error {
			entered <- n
			<-release
			return nil
		}, func(time.Duration, error) {})
		close(done)
	}()
	for i := 0; i < 3; i++ {
		<-entered
	}
	// Three calls in flight, each holding the one slot it claimed.
	if got := f.next.Load(); got != 3 {
		t.Fatalf("%d slots claimed with 3 workers busy", got)
	}
	close(release)
	go func() {
		for range entered {
		}
	}()
	<-done
	close(entered) // every worker has returned: ends the drain above
	if got := f.next.Load(); got < f.slots {
		t.Fatalf("run ended after %d of %d slots", got, f.slots)
	}
}
