// Command loadgen drives one gRPC unary method with pre-serialised request
// bytes and never decodes the replies, so the client costs little CPU and the
// server is what gets measured (ghz decodes every reply into a dynamic
// message: about 1 ms of client CPU per small request, 35 ms per 100x50 reply).
//
// With -rate > 0 requests are scheduled at fixed intervals and latency is
// measured from each request's scheduled start (no coordinated omission);
// with -rate 0, -c workers send back to back (saturation). Prints JSON.
//
// The -body file holds one or more requests, each a 4-byte big-endian length
// then that many bytes; request n sends body n mod count, so a run can spread
// over many entities as real traffic does.
//
// -ca turns on TLS (the server's certificate must chain to that root; -cert
// and -key add a client certificate for mTLS, -server-name overrides the name
// checked), and each -H "key: value" is sent as metadata on every call (e.g.
// authorization). Without them the call path is the plaintext one, unchanged.
//
// The report also holds every successful call's latency as a histogram of
// 10 µs buckets, so runs can be pooled: the p99 of many short runs taken
// together is the p99 of one long run, which the median of their p99s is not.
package main

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"sync"
	"time"
)

// rawCodec sends bytes as they are and keeps reply bytes unparsed.
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) { return *(v.(*[]byte)), nil }
func (rawCodec) Unmarshal(data []byte, v any) error {
	p := v.(*[]byte)
	*p = append((*p)[:0], data...)
	return nil
}
func (rawCodec) Name() string { return "proto" }

type report struct {
	QPS      float64 `json:"qps"`
	P50ms    float64 `json:"p50_ms"`
	P99ms    float64 `json:"p99_ms"`
	Requests int     `json:"requests"`
	Errors   int     `json:"errors"`
	// The first failed call's error, so a refused credential is visible.
	FirstError string `json:"first_error,omitempty"`
	// [bucket, count] pairs, bucket ascending: bucket b holds the calls that
	// took [b, b+1) * histBucket. Only buckets with calls are listed.
	Hist [][2]int64 `json:"latency_hist_10us"`
}

// histBucket is the width of one latency histogram bucket.
const histBucket = 10 * time.Microsecond

// histogram counts sorted latencies per histBucket.
func histogram(sorted []time.Duration) [][2]int64 {
	out := [][2]int64{}
	for _, d := range sorted {
		b := int64(d / histBucket)
		if n := len(out); n > 0 && out[n-1][0] == b {
			out[n-1][1]++
		} else {
			out = append(out, [2]int64{b, 1})
		}
	}
	return out
}

func main() {
	opts, err := parseFlags(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	bodies, err := readBodies(opts.bodyPath)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	clients, err := dialAll(opts)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	defer func() {
		for _, c := range clients {
			_ = c.Close()
		}
	}()
	call := caller(opts, clients, bodies)
	// Warm-up: connections established (TLS handshakes done), server code paths hot.
	for i := 0; i < 2*len(clients); i++ {
		_ = call(i)
	}

	var mu sync.Mutex
	latencies := make([]time.Duration, 0, 1<<16)
	errors := 0
	firstError := ""
	record := func(d time.Duration, err error) {
		mu.Lock()
		if err != nil {
			if errors == 0 {
				firstError = err.Error()
			}
			errors++
		} else {
			latencies = append(latencies, d)
		}
		mu.Unlock()
	}
	start := time.Now()
	if opts.rate > 0 {
		runFixedRate(newFixedRate(start, opts.rate, opts.duration), opts.workers, call, record)
	} else {
		runSaturated(start.Add(opts.duration), opts.workers, call, record)
	}
	elapsed := time.Since(start).Seconds()
	sort.Slice(latencies, func(i, j int) bool { return latencies[i] < latencies[j] })
	pct := func(p float64) float64 {
		if len(latencies) == 0 {
			return 0
		}
		i := int(p * float64(len(latencies)-1))
		return float64(latencies[i].Nanoseconds()) / 1e6
	}
	out := report{
		QPS:        float64(len(latencies)) / elapsed,
		P50ms:      pct(0.50),
		P99ms:      pct(0.99),
		Requests:   len(latencies) + errors,
		Errors:     errors,
		FirstError: firstError,
		Hist:       histogram(latencies),
	}
	_ = json.NewEncoder(os.Stdout).Encode(out)
}

// readBodies splits a file of 4-byte big-endian length-prefixed records.
func readBodies(path string) ([][]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var bodies [][]byte
	for len(data) > 0 {
		if len(data) < 4 {
			return nil, fmt.Errorf("%s: truncated length prefix", path)
		}
		size := binary.BigEndian.Uint32(data)
		if uint64(len(data)-4) < uint64(size) {
			return nil, fmt.Errorf("%s: record of %d bytes, %d left", path, size, len(data)-4)
		}
		bodies = append(bodies, data[4:4+size])
		data = data[4+size:]
	}
	if len(bodies) == 0 {
		return nil, fmt.Errorf("%s: no requests", path)
	}
	return bodies, nil
}
