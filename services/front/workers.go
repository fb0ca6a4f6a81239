package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"sort"
	"strings"
	"sync/atomic"

	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// workerPool holds the Unix-socket connections to the Python servers; each
// carries one call at a time. Connections are dialled on first use and
// dropped on any I/O error, so a restarted server is picked up again.
type workerPool struct {
	free    chan *workerConn
	serving []*atomic.Bool
}

type workerConn struct {
	path    string
	conn    net.Conn
	serving *atomic.Bool // the health of this socket's process, if known
}

type exchange struct {
	reply []byte
	err   error
}

// newWorkerPool opens perPath connections to each socket; serving[i], when
// given, is the health of the process behind paths[i] (the backend of the
// same index), so reads avoid a process that stopped answering health.
func newWorkerPool(paths []string, perPath int, serving []*atomic.Bool) *workerPool {
	pool := &workerPool{free: make(chan *workerConn, len(paths)*perPath), serving: serving}
	for i := 0; i < perPath; i++ {
		for j, path := range paths {
			w := &workerConn{path: path}
			if j < len(serving) {
				w.serving = serving[j]
			}
			pool.free <- w
		}
	}
	return pool
}

// take is a free connection, to a serving process when there is one: those
// of processes not serving are set aside until one is found (and put back).
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
			if w.serving == nil || w.serving.Load() || !p.anyServing() {
				return w, nil
			}
			parked = append(parked, w)
		case <-ctx.Done():
			return nil, status.FromContextError(ctx.Err()).Err()
		}
	}
}

func (p *workerPool) anyServing() bool {
	for _, s := range p.serving {
		if s.Load() {
			return true
		}
	}
	return false
}

// call sends one request frame (method, the caller's metadata block from
// encodeMetadata, request) and returns the reply's response bytes, or the gRPC
// status the server answered with. The caller's deadline bounds the wait; a
// call that outlives it finishes in the background before its connection is
// reused.
func (p *workerPool) call(ctx context.Context, method byte, md, request []byte) ([]byte, error) {
	w, err := p.take(ctx)
	if err != nil {
		return nil, err
	}
	done := make(chan exchange, 1)
	go func() {
		reply, err := w.roundTrip(method, md, request)
		p.free <- w
		done <- exchange{reply, err}
	}()
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

// roundTrip writes one request frame and reads its reply frame. The layout
// (services/server/ipc.py): a 4-byte big-endian length, then the method
// byte, a 2-byte big-endian metadata length M, M bytes of metadata
// (encodeMetadata) and the request message. The reply: a 4-byte length, then
// 0 + the response or a status code + a google.rpc.Status (decodeReply).
func (w *workerConn) roundTrip(method byte, md, request []byte) ([]byte, error) {
	if w.conn == nil {
		conn, err := net.Dial("unix", w.path)
		if err != nil {
			return nil, status.Errorf(codes.Unavailable, "online server %s not reachable: %v", w.path, err)
		}
		w.conn = conn
	}
	size := 3 + len(md) + len(request)
	frame := make([]byte, 7, 4+size)
	binary.BigEndian.PutUint32(frame, uint32(size))
	frame[4] = method
	binary.BigEndian.PutUint16(frame[5:], uint16(len(md)))
	frame = append(append(frame, md...), request...)
	reply, err := w.exchange(frame)
	if err != nil {
		_ = w.conn.Close()
		w.conn = nil
		return nil, status.Errorf(codes.Unavailable, "online server %s: %v", w.path, err)
	}
	return reply, nil
}

func (w *workerConn) exchange(frame []byte) ([]byte, error) {
	if _, err := w.conn.Write(frame); err != nil {
		return nil, err
	}
	var head [4]byte
	if _, err := io.ReadFull(w.conn, head[:]); err != nil {
		return nil, err
	}
	reply := make([]byte, binary.BigEndian.Uint32(head[:]))
	if _, err := io.ReadFull(w.conn, reply); err != nil {
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
