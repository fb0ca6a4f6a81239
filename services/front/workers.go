package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"

	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// workerPool holds the Unix-socket connections to the Python servers; each
// carries one call at a time. Connections are dialled on first use and
// dropped on any I/O error, so a restarted server is picked up again.
type workerPool struct {
	free chan *workerConn
}

type workerConn struct {
	path string
	conn net.Conn
}

type exchange struct {
	reply []byte
	err   error
}

func newWorkerPool(paths []string, perPath int) *workerPool {
	pool := &workerPool{free: make(chan *workerConn, len(paths)*perPath)}
	for i := 0; i < perPath; i++ {
		for _, path := range paths {
			pool.free <- &workerConn{path: path}
		}
	}
	return pool
}

// call sends one request frame and returns the reply's response bytes, or
// the gRPC status the server answered with. The caller's deadline bounds the
// wait; a call that outlives it finishes in the background before its
// connection is reused.
func (p *workerPool) call(ctx context.Context, method byte, request []byte) ([]byte, error) {
	var w *workerConn
	select {
	case w = <-p.free:
	case <-ctx.Done():
		return nil, status.FromContextError(ctx.Err()).Err()
	}
	done := make(chan exchange, 1)
	go func() {
		reply, err := w.roundTrip(method, request)
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

func (w *workerConn) roundTrip(method byte, request []byte) ([]byte, error) {
	if w.conn == nil {
		conn, err := net.Dial("unix", w.path)
		if err != nil {
			return nil, status.Errorf(codes.Unavailable, "online server %s not reachable: %v", w.path, err)
		}
		w.conn = conn
	}
	frame := make([]byte, 5, 5+len(request))
	binary.BigEndian.PutUint32(frame, uint32(1+len(request)))
	frame[4] = method
	reply, err := w.exchange(append(frame, request...))
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
