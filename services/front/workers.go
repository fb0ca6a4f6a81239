package main

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"

	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// workerPool holds the Unix-socket connections to the Python servers. Each
// connection carries up to depth calls at once, pipelined: requests are
// written back to back and the server, which reads one frame at a time on
// the connection, answers them in order. A process's thread then finds its
// next request already waiting instead of sleeping until the front writes
// it, and one thread per process serves the reads (no second thread taking
// turns with it on the GIL). Connections are dialled on first use and
// dropped on any I/O error (every call in flight on one then fails
// UNAVAILABLE), so a restarted server is picked up again.
type workerPool struct {
	// free holds one entry per call a connection can take: depth entries for
	// each connection. An entry goes back once the call's reply is read.
	free    chan *workerConn
	serving []*atomic.Bool
	all     []*workerConn
	// answered[i], when set (watch), says process i answered its last health
	// check at all; polled says the first poll is done. With no process
	// serving, a read goes to one that answered (it gives its own answer, an
	// online store down say); with none answering after the first poll, it
	// fails UNAVAILABLE at once instead of waiting on a process that may be hung.
	answered []*atomic.Bool
	polled   *atomic.Bool
}

type workerConn struct {
	path     string
	process  int          // the index of path in the front's --online-sockets
	serving  *atomic.Bool // the health of this socket's process, if known
	answered *atomic.Bool // whether that process answered its last health check

	wmu  sync.Mutex // held while dialling and writing: frames go out whole, in queue order
	mu   sync.Mutex // guards link and its pending queue
	link *link      // the open connection, nil until dialled or after an error
}

// link is one dialled connection and the calls written on it, oldest first,
// whose replies its reader goroutine has not yet read.
type link struct {
	conn    net.Conn
	pending []chan exchange
}

type exchange struct {
	reply []byte
	err   error
}

// newWorkerPool opens conns connections to each socket, each carrying up to
// depth calls at once; serving[i], when given, is the health of the process
// behind paths[i] (the backend of the same index), so reads avoid a process
// that stopped answering health.
func newWorkerPool(paths []string, conns, depth int, serving []*atomic.Bool) *workerPool {
	pool := &workerPool{free: make(chan *workerConn, len(paths)*conns*depth), serving: serving}
	var all []*workerConn
	for i := 0; i < conns; i++ {
		for j, path := range paths {
			w := &workerConn{path: path, process: j}
			if j < len(serving) {
				w.serving = serving[j]
			}
			all = append(all, w)
		}
	}
	// Slots go round the connections (and so the processes): the first
	// calls spread over every process instead of filling one's pipeline.
	for k := 0; k < depth; k++ {
		for _, w := range all {
			pool.free <- w
		}
	}
	pool.all = all
	return pool
}

// watch has reads follow the backends' health polls: answered[i] for the
// process behind paths[i], polled once the first poll is done.
func (p *workerPool) watch(answered []*atomic.Bool, polled *atomic.Bool) {
	p.answered, p.polled = answered, polled
	for i, w := range p.all { // conns were made path by path, in paths' order
		if len(answered) > 0 {
			w.answered = answered[i%len(answered)]
		}
	}
}

// take is a free call slot, on a serving process when there is one: those
// of processes not serving are set aside until one is found (and put back).
// With none serving, a slot of a process that answered its health check;
// with none answering, UNAVAILABLE once the first poll is done (before it,
// any slot).
func (p *workerPool) take(ctx context.Context) (*workerConn, error) {
	var parked []*workerConn
	defer func() {
		for _, w := range parked {
			p.free <- w
		}
	}()
	for {
		select {
		case w := <-p.free:
			switch {
			case w.serving == nil || w.serving.Load():
				return w, nil
			case anyOf(p.serving):
				parked = append(parked, w)
			case w.answered == nil || w.answered.Load():
				return w, nil // alive, not serving: it answers for itself
			case anyOf(p.answered):
				parked = append(parked, w)
			case p.polled != nil && p.polled.Load():
				p.free <- w
				return nil, errNoneAnswering(len(p.answered))
			default:
				return w, nil // start-up: the process answers for itself
			}
		case <-ctx.Done():
			return nil, status.FromContextError(ctx.Err()).Err()
		}
	}
}

// anyOf is whether any of the flags is set.
func anyOf(flags []*atomic.Bool) bool {
	for _, f := range flags {
		if f.Load() {
			return true
		}
	}
	return false
}

// call sends one request frame (method, the caller's metadata block from
// encodeMetadata, request) and returns the reply's response bytes, or the gRPC
// status the server answered with. The caller's deadline bounds the wait; a
// call that outlives it finishes in the background, and its slot is free
// again once its reply has been read.
func (p *workerPool) call(ctx context.Context, method byte, md, request []byte) ([]byte, error) {
	w, err := p.take(ctx)
	if err != nil {
		return nil, err
	}
	done := make(chan exchange, 1)
	if err := w.send(p, requestFrame(method, md, request), done); err != nil {
		p.free <- w
		return nil, err
	}
	select {
	case result := <-done:
		if result.err != nil {
			return nil, result.err
		}
		return decodeReply(result.reply)
	case <-ctx.Done():
		return nil, status.FromContextError(ctx.Err()).Err()
	}
}

// requestFrame is one request as the server reads it (services/server/ipc.py):
// a 4-byte big-endian length, then the method byte, a 2-byte big-endian
// metadata length M, M bytes of metadata (encodeMetadata) and the request
// message. The reply: a 4-byte length, then 0 + the response or a status
// code + a google.rpc.Status (decodeReply).
func requestFrame(method byte, md, request []byte) []byte {
	size := 3 + len(md) + len(request)
	frame := make([]byte, 7, 4+size)
	binary.BigEndian.PutUint32(frame, uint32(size))
	frame[4] = method
	binary.BigEndian.PutUint16(frame[5:], uint16(len(md)))
	return append(append(frame, md...), request...)
}

// send writes frame on the connection (dialling it first if needed) and
// queues done for its reply. An error means done will not be answered: the
// server was not reachable. A write that fails closes the connection, and
// its reader fails every call queued on it, this one included. Writes hold
// wmu only, never mu: the reader keeps taking replies while a large request
// is being written, so neither side can wait on the other for ever.
func (w *workerConn) send(pool *workerPool, frame []byte, done chan exchange) error {
	w.wmu.Lock()
	defer w.wmu.Unlock()
	w.mu.Lock()
	l := w.link
	if l == nil {
		conn, err := net.Dial("unix", w.path)
		if err != nil {
			w.mu.Unlock()
			return w.unavailable("not reachable", err)
		}
		l = &link{conn: conn}
		w.link = l
		go w.read(pool, l)
	}
	l.pending = append(l.pending, done)
	w.mu.Unlock()
	if _, err := l.conn.Write(frame); err != nil {
		_ = l.conn.Close() // the reader fails what is queued on l
	}
	return nil
}

// read hands each reply on l to the oldest call waiting for one and frees its
// slot; on an I/O error it drops l and fails every call still queued on it.
func (w *workerConn) read(pool *workerPool, l *link) {
	for {
		reply, err := readFrame(l.conn)
		w.mu.Lock()
		if err != nil || len(l.pending) == 0 {
			if err == nil {
				err = errOutOfStep
			}
			if w.link == l {
				w.link = nil
			}
			failed := l.pending
			l.pending = nil
			w.mu.Unlock()
			_ = l.conn.Close()
			lost := w.unavailable("unavailable", err)
			for _, done := range failed {
				done <- exchange{nil, lost}
				pool.free <- w
			}
			return
		}
		done := l.pending[0]
		l.pending = l.pending[1:]
		w.mu.Unlock()
		done <- exchange{reply, nil}
		pool.free <- w
	}
}

// unavailable is the UNAVAILABLE a caller gets when w's process cannot be
// reached or its connection is lost: it names the process by its number and
// the kind of failure only (the socket's path is the front's private folder),
// while the front's log keeps the whole error.
func (w *workerConn) unavailable(what string, err error) error {
	log.Printf("fs-front: online process %d (%s) %s: %v", w.process, w.path, what, err)
	return status.Errorf(codes.Unavailable, "online process %d %s: %s", w.process, what, failure(err))
}

// failure names the kind of a socket error without its addresses.
func failure(err error) string {
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "connection closed"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return "connection reset"
	case errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ENOENT):
		return "connection refused"
	case errors.Is(err, net.ErrClosed):
		return "connection closed"
	case errors.Is(err, errOutOfStep):
		return "unexpected reply"
	default:
		return "connection lost"
	}
}

// errOutOfStep is a reply nobody asked for: the stream is out of step.
var errOutOfStep = errors.New("unexpected reply")

func readFrame(conn net.Conn) ([]byte, error) {
	var head [4]byte
	if _, err := io.ReadFull(conn, head[:]); err != nil {
		return nil, err
	}
	reply := make([]byte, binary.BigEndian.Uint32(head[:]))
	if _, err := io.ReadFull(conn, reply); err != nil {
		return nil, err
	}
	return reply, nil
}

// maxMetadataBytes bounds the metadata block of a frame: grpc-python's own
// default limit on a call's metadata is 8 KiB, so an online read through the
// front accepts no more than a direct call would.
const maxMetadataBytes = 8 << 10

// encodeMetadata is the metadata block of a request frame: every ASCII entry
// of md but the transport's own (keys starting "grpc-" or ":") and binary
// ("-bin") ones, as repeated [2-byte key length, key, 2-byte value length,
// value], keys sorted (grpc-go keeps no order across keys), the values of one
// key in arrival order. Over maxMetadataBytes is RESOURCE_EXHAUSTED.
func encodeMetadata(md metadata.MD) ([]byte, error) {
	keys := make([]string, 0, len(md))
	for key := range md {
		if !strings.HasPrefix(key, "grpc-") && !strings.HasPrefix(key, ":") &&
			!strings.HasSuffix(key, "-bin") && printableASCII(key) {
			keys = append(keys, key)
		}
	}
	sort.Strings(keys)
	var block []byte
	for _, key := range keys {
		for _, value := range md[key] {
			if !printableASCII(value) {
				continue
			}
			if len(block)+4+len(key)+len(value) > maxMetadataBytes {
				return nil, status.Errorf(codes.ResourceExhausted,
					"request metadata over %d bytes (the limit of an online read)", maxMetadataBytes)
			}
			block = binary.BigEndian.AppendUint16(block, uint16(len(key)))
			block = append(block, key...)
			block = binary.BigEndian.AppendUint16(block, uint16(len(value)))
			block = append(block, value...)
		}
	}
	return block, nil
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// decodeReply splits a reply frame: 0 then the response, or a status code
// then a serialised google.rpc.Status.
func decodeReply(reply []byte) ([]byte, error) {
	if len(reply) == 0 {
		return nil, status.Error(codes.Internal, "online server sent an empty reply")
	}
	if reply[0] == 0 {
		return reply[1:], nil
	}
	code := codes.Code(reply[0])
	if len(reply) == 1 {
		return nil, status.Error(code, "online server gave no details")
	}
	var st spb.Status
	if err := proto.Unmarshal(reply[1:], &st); err != nil {
		return nil, status.Error(codes.Internal, fmt.Sprintf("online server sent an unreadable status: %v", err))
	}
	return nil, status.FromProto(&st).Err()
}
