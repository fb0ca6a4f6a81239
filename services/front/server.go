package main

import (
	"context"
	"encoding/base64"
	"errors"
	"io"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	// Registers gzip: a client may compress its calls (grpc-python's
	// grpc.Compression.Gzip, grpc-go's UseCompressor), as the Python server
	// accepts. grpc-go bounds what it inflates by MaxRecvMsgSize, so a small
	// gzip bomb is RESOURCE_EXHAUSTED, and answers a compressed call
	// compressed. Calls go on to the Python servers uncompressed.
	_ "google.golang.org/grpc/encoding/gzip"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// Online methods answered by the Python servers over Unix sockets; the byte
// is the method's code in services/server/ipc.py (METHODS).
var onlineMethods = []struct {
	service, method string
	code            byte
}{
	{"featurestore.v1.FeatureStoreService", "GetOnlineFeatures", 1},
	{"feast.serving.ServingService", "GetOnlineFeatures", 2},
}

// rawCodec moves messages as the bytes they are on the wire: requests go to
// the Python servers unparsed, replies come back already serialised.
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) { return *(v.(*[]byte)), nil }
func (rawCodec) Unmarshal(data []byte, v any) error {
	p := v.(*[]byte)
	*p = append((*p)[:0], data...)
	return nil
}
func (rawCodec) Name() string { return "proto" }

// limits are the front's share of the Python server's limits.
type limits struct {
	maxRequestBytes int    // largest request message (the server's max_request_bytes)
	maxStreams      uint32 // concurrent calls per client connection
}

// maxSendBytes is the largest message the front sends, the Python server's
// own send limit (services/server/settings.py MAX_SEND_BYTES): an online
// answer (read from a worker's socket, where no gRPC limit applies) over it
// is RESOURCE_EXHAUSTED through the front as it is directly. Proxied
// messages come from the servers, so they are within it already.
const maxSendBytes = 64 << 20

// Flow-control windows the front announces, fixed. grpc-go's default
// (dynamic windows sized by bandwidth-delay probes) answers a request's DATA
// frame with a window update and a PING whenever no probe is in flight: at a
// low call rate that is every call, one more write (a TLS record, with TLS)
// and more reads per call on the server's CPU. Fixed windows send no probes.
// 1 MiB per call keeps an upload at 400 Mb/s over a 20 ms round trip (a LAN's
// is well under 1 ms); it is also what one call may hold unread in the front
// (grpc-go returns connection credit as data arrives), so a connection holds
// at most --max-concurrent-streams MiB.
const (
	streamWindowBytes = 1 << 20
	connWindowBytes   = 4 << 20
)

// newServer is the front: online reads to the workers' sockets, health
// answered here, everything else proxied to the backends. creds nil serves
// plaintext.
func newServer(online *workerPool, backends *backendSet, lim limits, creds credentials.TransportCredentials) *grpc.Server {
	options := []grpc.ServerOption{
		grpc.ForceServerCodec(rawCodec{}),
		grpc.MaxRecvMsgSize(lim.maxRequestBytes),
		grpc.MaxSendMsgSize(maxSendBytes),
		grpc.MaxConcurrentStreams(lim.maxStreams),
		grpc.UnknownServiceHandler(proxy(backends, online)),
		grpc.StaticStreamWindowSize(streamWindowBytes),
		grpc.StaticConnWindowSize(connWindowBytes),
	}
	if creds != nil {
		options = append(options, grpc.Creds(creds))
	}
	server := grpc.NewServer(options...)
	server.RegisterService(healthService(backends), struct{}{})
	for _, m := range onlineMethods {
		server.RegisterService(&grpc.ServiceDesc{
			ServiceName: m.service,
			HandlerType: (*any)(nil),
			Methods: []grpc.MethodDesc{{
				MethodName: m.method,
				Handler:    onlineHandler(online, m.code),
			}},
		}, struct{}{})
	}
	return server
}

func onlineHandler(online *workerPool, code byte) grpc.MethodHandler {
	return func(_ any, ctx context.Context, decode func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
		var request []byte
		if err := decode(&request); err != nil {
			return nil, err
		}
		incoming, _ := metadata.FromIncomingContext(ctx)
		if checkMetadataSize(incoming) != nil {
			method, _ := grpc.Method(ctx)
			return nil, online.refuseOversized(ctx, method, incoming)
		}
		md, err := encodeMetadata(incoming)
		if err != nil {
			return nil, err
		}
		reply, err := online.call(ctx, code, md, request)
		if err != nil {
			return nil, err
		}
		return &reply, nil
	}
}

// proxy forwards any other call, unary or streaming, to one of the Python
// servers (backendSet.pick: the healthy one with the fewest calls in
// flight): metadata, messages both ways,
// headers, trailers and the final status (details included) pass through
// unchanged, and the caller's deadline goes with the call (grpc-go carries
// the incoming context's deadline to the outgoing call).
func proxy(backends *backendSet, online *workerPool) grpc.StreamHandler {
	return func(_ any, downstream grpc.ServerStream) error {
		method, _ := grpc.MethodFromServerStream(downstream)
		md, _ := metadata.FromIncomingContext(downstream.Context())
		if checkMetadataSize(md) != nil {
			return online.refuseOversized(downstream.Context(), method, md)
		}
		ctx, cancel := context.WithCancel(metadata.NewOutgoingContext(downstream.Context(), md.Copy()))
		defer cancel()
		desc := &grpc.StreamDesc{ServerStreams: true, ClientStreams: true}
		target, err := backends.pick()
		if err != nil {
			return err
		}
		target.inFlight.Add(1)
		defer target.inFlight.Add(-1)
		up, err := target.conn.NewStream(ctx, desc, method)
		if err != nil {
			return err
		}
		go func() {
			for {
				var message []byte
				if err := downstream.RecvMsg(&message); err != nil {
					if errors.Is(err, io.EOF) {
						_ = up.CloseSend()
					} else {
						cancel()
					}
					return
				}
				if up.SendMsg(&message) != nil {
					return // the upstream's RecvMsg reports why
				}
			}
		}()
		headerSent := false
		for {
			var message []byte
			err := up.RecvMsg(&message)
			if !headerSent {
				if header, herr := up.Header(); herr == nil {
					_ = downstream.SendHeader(header)
				}
				headerSent = true
			}
			if err != nil {
				downstream.SetTrailer(up.Trailer())
				if errors.Is(err, io.EOF) {
					return nil
				}
				return err
			}
			if err := downstream.SendMsg(&message); err != nil {
				return err
			}
		}
	}
}

// checkMetadataSize refuses a call whose metadata is over maxMetadataBytes
// (headerListBytes), online reads and proxied calls alike: RESOURCE_EXHAUSTED.
func checkMetadataSize(md metadata.MD) error {
	if size := headerListBytes(md); size > maxMetadataBytes {
		return status.Errorf(codes.ResourceExhausted,
			"request metadata of %d bytes is over %d bytes", size, maxMetadataBytes)
	}
	return nil
}

// headerListBytes is md's size as HTTP/2 counts a header list (RFC 9113
// 6.5.2: name, value and 32 per field; binary values as sent, base64). The
// front checks it against maxMetadataBytes before proxying: the Python
// servers refuse big metadata themselves (grpc-python's 8 KiB), but past
// their 16 KiB hard limit grpc-go's client in the front would refuse to send
// with INTERNAL, a client's mistake reported as the server's.
func headerListBytes(md metadata.MD) int {
	size := 0
	for key, values := range md {
		for _, value := range values {
			n := len(value)
			if strings.HasSuffix(key, "-bin") {
				n = base64.RawStdEncoding.EncodedLen(n)
			}
			size += len(key) + n + 32
		}
	}
	return size
}
