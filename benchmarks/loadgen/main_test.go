package main

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// frame writes requests as bench_online_load._loadgen does: each one after
// its 4-byte big-endian length.
func frame(requests ...[]byte) []byte {
	var out bytes.Buffer
	for _, r := range requests {
		n := len(r)
		out.Write([]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)})
		out.Write(r)
	}
	return out.Bytes()
}

func writeFile(t *testing.T, data []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "bodies.bin")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestReadBodiesReturnsEachRequestInOrder(t *testing.T) {
	long := bytes.Repeat([]byte{0xAB}, 70000) // a length above 16 bits
	want := [][]byte{[]byte("first"), {}, long, {0x00, 0x0A}}
	got, err := readBodies(writeFile(t, frame(want...)))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("got %d requests, want %d", len(got), len(want))
	}
	for i := range want {
		if !bytes.Equal(got[i], want[i]) {
			t.Errorf("request %d: got %d bytes, want %d", i, len(got[i]), len(want[i]))
		}
	}
}

func TestReadBodiesRejectsBrokenFiles(t *testing.T) {
	whole := frame([]byte("abcdef"))
	cases := map[string]struct {
		data []byte
		want string
	}{
		"empty":            {nil, "no requests"},
		"truncated prefix": {append(frame([]byte("ok")), 0, 0), "truncated length prefix"},
		"short record":     {whole[:len(whole)-1], "record of 6 bytes, 5 left"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := readBodies(writeFile(t, c.data))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got error %v, want one containing %q", err, c.want)
			}
		})
	}
}

func TestHistogramCountsEachCallInItsTenMicrosecondBucket(t *testing.T) {
	us := time.Microsecond
	sorted := []time.Duration{0, 9 * us, 10 * us, 19*us + 999, 20 * us, 1500 * us, 1509 * us}
	got := histogram(sorted)
	want := [][2]int64{{0, 2}, {1, 2}, {2, 1}, {150, 2}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("histogram = %v, want %v", got, want)
	}
	var total int64
	for _, bc := range got {
		total += bc[1]
	}
	if total != int64(len(sorted)) {
		t.Fatalf("histogram holds %d calls, want %d", total, len(sorted))
	}
	if empty := histogram(nil); empty == nil || len(empty) != 0 {
		t.Fatalf("no calls: %v, want an empty list (JSON [] not null)", empty)
	}
}
