package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

func TestDecodeReplyOK(t *testing.T) {
	got, err := decodeReply([]byte{0, 7, 8})
	if err != nil || string(got) != "\x07\x08" {
		t.Fatalf("got %v, %v", got, err)
	}
}

func TestDecodeReplyStatusKeepsDetails(t *testing.T) {
	info, _ := anypb.New(&errdetails.ErrorInfo{Reason: "NO_ENTITY_ROWS"})
	body, _ := proto.Marshal(&spb.Status{Code: 3, Message: "no entity rows", Details: []*anypb.Any{info}})
	_, err := decodeReply(append([]byte{3}, body...))
	st := status.Convert(err)
	if st.Code() != codes.InvalidArgument || st.Message() != "no entity rows" {
		t.Fatalf("got %v", st)
	}
	if len(st.Details()) != 1 || st.Details()[0].(*errdetails.ErrorInfo).Reason != "NO_ENTITY_ROWS" {
		t.Fatalf("details lost: %v", st.Details())
	}
}

func TestDecodeReplyBareCodeAndGarbage(t *testing.T) {
	if _, err := decodeReply([]byte{12}); status.Code(err) != codes.Unimplemented {
		t.Fatalf("bare code: %v", err)
	}
	if _, err := decodeReply(nil); status.Code(err) != codes.Internal {
		t.Fatalf("empty: %v", err)
	}
	if _, err := decodeReply([]byte{3, 0xff, 0xff}); status.Code(err) != codes.Internal {
		t.Fatalf("garbage: %v", err)
	}
}

// serveFrames answers each request frame with 0 + the body reversed, after
// sleeping for the body's first byte in milliseconds; a body "metadata?" is
// answered with 0 + the frame's metadata block instead, and "bytes=N" with 0 +
// N zero bytes.
func serveFrames(t *testing.T, path string) net.Listener {
	return listenUnix(t, path, func(c net.Conn) {
		for {
			frame, err := readFrame(c)
			if err != nil {
				return
			}
			mdEnd := 3 + int(binary.BigEndian.Uint16(frame[1:3]))
			body := frame[mdEnd:]
			size, sized := strings.CutPrefix(string(body), "bytes=")
			if string(body) == "metadata?" {
				body = reverse(frame[3:mdEnd])
			} else if n, err := strconv.Atoi(size); sized && err == nil {
				body = make([]byte, n)
			} else if len(body) > 0 {
				time.Sleep(time.Duration(body[0]) * time.Millisecond)
			}
			reply := append([]byte{0}, reverse(body)...)
			var head [4]byte
			binary.BigEndian.PutUint32(head[:], uint32(len(reply)))
			if _, err := c.Write(append(head[:], reply...)); err != nil {
				return
			}
		}
	})
}

// listenUnix serves every connection accepted on the Unix socket path with
// handle, on its own goroutine, closing it when handle returns.
func listenUnix(t *testing.T, path string, handle func(net.Conn)) net.Listener {
	lis, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			conn, err := lis.Accept()
			if err != nil {
				return
			}
			go func(c net.Conn) {
				defer c.Close()
				handle(c)
			}(conn)
		}
	}()
	return lis
}

func reverse(b []byte) []byte {
	out := make([]byte, 0, len(b))
	for i := len(b) - 1; i >= 0; i-- {
		out = append(out, b[i])
	}
	return out
}

func TestPoolRoundTripAndDeadline(t *testing.T) {
	path := filepath.Join(t.TempDir(), "online.sock")
	lis := serveFrames(t, path)
	defer lis.Close()
	pool := newWorkerPool([]string{path}, 1, 1, nil)
	got, err := pool.call(context.Background(), 1, nil, []byte{0, 1, 2})
	if err != nil || string(got) != "\x02\x01\x00" {
		t.Fatalf("got %v, %v", got, err)
	}
	// A reply slower than the deadline: DEADLINE_EXCEEDED, and the one
	// connection is back in the pool once the late reply has been read.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := pool.call(ctx, 1, nil, []byte{200}); status.Code(err) != codes.DeadlineExceeded {
		t.Fatalf("slow call: %v", err)
	}
	got, err = pool.call(context.Background(), 1, nil, []byte{0, 9})
	if err != nil || string(got) != "\x09\x00" {
		t.Fatalf("after a late reply: %v, %v", got, err)
	}
}

func TestPoolUnavailableThenRecovers(t *testing.T) {
	path := filepath.Join(t.TempDir(), "online.sock")
	pool := newWorkerPool([]string{path}, 1, 1, nil)
	if _, err := pool.call(context.Background(), 1, nil, []byte{0}); status.Code(err) != codes.Unavailable {
		t.Fatalf("no server: %v", err)
	}
	lis := serveFrames(t, path)
	defer lis.Close()
	got, err := pool.call(context.Background(), 1, nil, []byte{0, 5})
	if err != nil || string(got) != "\x05\x00" {
		t.Fatalf("server up: %v, %v", got, err)
	}
}

// A process that stopped answering health (here: a socket that accepts and
// never replies, as a hung process does) gets no reads while another serves.
func TestPoolAvoidsAProcessNotServing(t *testing.T) {
	dir := t.TempDir()
	good := serveFrames(t, filepath.Join(dir, "good.sock"))
	defer good.Close()
	hung := listenUnix(t, filepath.Join(dir, "hung.sock"), func(c net.Conn) {
		_, _ = io.Copy(io.Discard, c) // reads until the front hangs up, never replies
	})
	defer hung.Close()
	var goodServing, hungServing atomic.Bool
	goodServing.Store(true)
	pool := newWorkerPool([]string{filepath.Join(dir, "hung.sock"), filepath.Join(dir, "good.sock")}, 1, 2,
		[]*atomic.Bool{&hungServing, &goodServing})
	for i := 0; i < 8; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		got, err := pool.call(ctx, 1, nil, []byte{0, byte(i)})
		cancel()
		if err != nil || string(got) != string([]byte{byte(i), 0}) {
			t.Fatalf("call %d: %v, %v", i, got, err)
		}
	}
}

// Calls pipelined on one connection get their own replies, in any mix of
// durations: the server answers in order and the front pairs them in order.
func TestPoolPipelinesCallsOnOneConnection(t *testing.T) {
	path := filepath.Join(t.TempDir(), "online.sock")
	lis := serveFrames(t, path)
	defer lis.Close()
	pool := newWorkerPool([]string{path}, 1, 4, nil)
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for i := 0; i < 40; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			body := []byte{byte(i % 3), byte(i)} // sleeps 0-2 ms, then reversed
			got, err := pool.call(context.Background(), 1, nil, body)
			if err != nil || string(got) != string(reverse(body)) {
				errs <- fmt.Errorf("call %d: got %v, %v", i, got, err)
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// A connection that drops with calls in flight fails each of them
// UNAVAILABLE and frees their slots: the next call dials again and succeeds.
func TestPoolFailsEveryCallInFlightOnALostConnection(t *testing.T) {
	path := filepath.Join(t.TempDir(), "online.sock")
	lis, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	// Reads two frames, then closes without answering.
	go func() {
		conn, err := lis.Accept()
		if err != nil {
			return
		}
		for n := 0; n < 2; n++ {
			if _, err := readFrame(conn); err != nil {
				break
			}
		}
		_ = conn.Close()
		_ = lis.Close()
	}()
	pool := newWorkerPool([]string{path}, 1, 2, nil)
	var wg sync.WaitGroup
	codesSeen := make(chan codes.Code, 2)
	for i := 0; i < 2; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := pool.call(context.Background(), 1, nil, []byte{0})
			codesSeen <- status.Code(err)
		}()
	}
	wg.Wait()
	close(codesSeen)
	for code := range codesSeen {
		if code != codes.Unavailable {
			t.Fatalf("in flight on a lost connection: %v", code)
		}
	}
	good := serveFrames(t, path+"2")
	defer good.Close()
	if err := os.Rename(path+"2", path); err != nil {
		t.Fatal(err)
	}
	got, err := pool.call(context.Background(), 1, nil, []byte{0, 7})
	if err != nil || string(got) != "\x07\x00" {
		t.Fatalf("after the loss: %v, %v", got, err)
	}
}

// The first calls spread over every process: with room for four pipelined
// calls on each, two calls at once go to two processes, not both to the
// first one's pipeline.
func TestPoolSpreadsCallsOverProcesses(t *testing.T) {
	dir := t.TempDir()
	var paths []string
	received := make(chan string, 8)
	for _, name := range []string{"a.sock", "b.sock"} {
		path := filepath.Join(dir, name)
		paths = append(paths, path)
		lis := listenUnix(t, path, func(c net.Conn) { // reads frames, never answers
			for {
				if _, err := readFrame(c); err != nil {
					return
				}
				received <- path
			}
		})
		defer lis.Close()
	}
	pool := newWorkerPool(paths, 1, 4, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for i := 0; i < 2; i++ {
		go func() { _, _ = pool.call(ctx, 1, nil, []byte{0}) }()
	}
	got := map[string]int{}
	for i := 0; i < 2; i++ {
		select {
		case path := <-received:
			got[path]++
		case <-time.After(10 * time.Second):
			t.Fatalf("only %d of 2 calls reached a process", i)
		}
	}
	if got[paths[0]] != 1 || got[paths[1]] != 1 {
		t.Fatalf("calls per process: %v, want one each", got)
	}
}

// With no process serving, a read goes to one that answered its health
// check (alive: it answers for itself); with none answering after the first
// poll, it is UNAVAILABLE at once rather than sent to a (here: hung) process
// to wait out its deadline; before the first poll it is sent.
func TestPoolIsUnavailableAtOnceOnlyWhenNoProcessAnswers(t *testing.T) {
	dir := t.TempDir()
	hung := listenUnix(t, filepath.Join(dir, "hung.sock"), func(c net.Conn) { _, _ = io.Copy(io.Discard, c) })
	defer hung.Close()
	good := serveFrames(t, filepath.Join(dir, "good.sock"))
	defer good.Close()
	var serving, answered, polled atomic.Bool
	pool := newWorkerPool([]string{filepath.Join(dir, "hung.sock")}, 1, 2, []*atomic.Bool{&serving})
	pool.watch([]*atomic.Bool{&answered}, &polled)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	_, err := pool.call(ctx, 1, nil, []byte{0})
	cancel()
	if status.Code(err) != codes.DeadlineExceeded {
		t.Fatalf("before the first poll: %v", err)
	}
	polled.Store(true)
	ctx, cancel = context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err = pool.call(ctx, 1, nil, []byte{0})
	if status.Code(err) != codes.Unavailable || !strings.Contains(status.Convert(err).Message(), "NO_PROCESS_ANSWERING") {
		t.Fatalf("polled, none answering: %v", err)
	}
	// Alive but not serving: the read is sent, and answered.
	var aliveServing, alive atomic.Bool
	alive.Store(true)
	other := newWorkerPool([]string{filepath.Join(dir, "good.sock")}, 1, 1, []*atomic.Bool{&aliveServing})
	other.watch([]*atomic.Bool{&alive}, &polled)
	got, err := other.call(ctx, 1, nil, []byte{0, 7})
	if err != nil || string(got) != "\x07\x00" {
		t.Fatalf("alive, not serving: %v, %v", got, err)
	}
}

// A process that cannot be reached, or drops the connection, is UNAVAILABLE
// naming the process by number and the kind of failure, never the socket's
// path (the front's private folder); the front's log keeps the whole error.
func TestUnavailableNamesTheProcessNotTheSocketPath(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "online-0.sock")
	var logged strings.Builder
	log.SetOutput(&logged)
	defer log.SetOutput(os.Stderr)
	pool := newWorkerPool([]string{path}, 1, 1, nil)
	_, err := pool.call(context.Background(), 1, nil, []byte{0})
	st := status.Convert(err)
	if st.Code() != codes.Unavailable || st.Message() != "online process 0 not reachable: connection refused" {
		t.Fatalf("no server: %v", err)
	}
	// Reads a frame, then resets the connection without answering.
	lis := listenUnix(t, path, func(c net.Conn) {
		_, _ = readFrame(c)
	})
	defer lis.Close()
	_, err = pool.call(context.Background(), 1, nil, []byte{0})
	st = status.Convert(err)
	if st.Code() != codes.Unavailable || !strings.HasPrefix(st.Message(), "online process 0 unavailable: connection ") {
		t.Fatalf("dropped: %v", err)
	}
	if strings.Contains(st.Message(), dir) || strings.Contains(st.Message(), "sock") {
		t.Fatalf("the socket's path reached the caller: %q", st.Message())
	}
	if !strings.Contains(logged.String(), path) {
		t.Fatalf("the front's log lost the detail: %q", logged.String())
	}
}
