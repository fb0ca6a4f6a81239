package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"maps"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// fakeBackend is a real gRPC server standing in for one Python process: a
// standard health service, and any other method answers with the backend's
// name after recording the call's metadata and deadline. "/test.Slow/Wait"
// blocks until the caller gives up.
type fakeBackend struct {
	name   string
	addr   string
	health *health.Server
	server *grpc.Server

	mu          sync.Mutex
	lastMD      metadata.MD
	hadDeadline bool
	calls       int
}

func startBackend(t *testing.T, name string) *fakeBackend {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &fakeBackend{name: name, addr: lis.Addr().String(), health: health.NewServer()}
	b.server = grpc.NewServer(grpc.UnknownServiceHandler(func(_ any, stream grpc.ServerStream) error {
		method, _ := grpc.MethodFromServerStream(stream)
		var in wrapperspb.StringValue
		if err := stream.RecvMsg(&in); err != nil {
			return err
		}
		md, _ := metadata.FromIncomingContext(stream.Context())
		_, deadline := stream.Context().Deadline()
		b.mu.Lock()
		b.lastMD, b.hadDeadline = md, deadline
		b.calls++
		b.mu.Unlock()
		if method == "/test.Slow/Wait" {
			<-stream.Context().Done()
			return stream.Context().Err()
		}
		return stream.SendMsg(wrapperspb.String(b.name))
	}))
	healthpb.RegisterHealthServer(b.server, b.health)
	go func() { _ = b.server.Serve(lis) }()
	t.Cleanup(b.server.Stop)
	return b
}

type frontUnderTest struct {
	addr     string
	backends *backendSet
}

// startFront serves the front on a loopback port over the given backends and
// one online socket; health is polled only when a test calls pollOnce.
func startFront(t *testing.T, backends []*fakeBackend, lim limits, creds credentials.TransportCredentials) *frontUnderTest {
	t.Helper()
	path := filepath.Join(t.TempDir(), "online.sock")
	frames := serveFrames(t, path)
	t.Cleanup(func() { frames.Close() })
	addrs := make([]string, len(backends))
	for i, b := range backends {
		addrs[i] = b.addr
	}
	set, err := dialBackends(addrs, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	set.pollOnce(context.Background())
	server := newServer(newWorkerPool([]string{path}, 1, 1, nil), set, lim, creds)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = server.Serve(lis) }()
	t.Cleanup(server.Stop)
	return &frontUnderTest{addr: lis.Addr().String(), backends: set}
}

var defaultLimits = limits{maxRequestBytes: 1 << 20, maxStreams: 16}

func dial(t *testing.T, addr string) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func who(ctx context.Context, conn *grpc.ClientConn) (string, error) {
	var out wrapperspb.StringValue
	err := conn.Invoke(ctx, "/test.Echo/Who", wrapperspb.String("hi"), &out)
	return out.Value, err
}

func frontHealth(t *testing.T, conn *grpc.ClientConn, service string) (healthpb.HealthCheckResponse_ServingStatus, error) {
	t.Helper()
	reply, err := healthpb.NewHealthClient(conn).Check(context.Background(), &healthpb.HealthCheckRequest{Service: service})
	return reply.GetStatus(), err
}

func TestProxyRoundRobinOverHealthyBackends(t *testing.T) {
	a, b := startBackend(t, "a"), startBackend(t, "b")
	front := startFront(t, []*fakeBackend{a, b}, defaultLimits, nil)
	conn := dial(t, front.addr)
	seen := map[string]int{}
	for i := 0; i < 6; i++ {
		name, err := who(context.Background(), conn)
		if err != nil {
			t.Fatal(err)
		}
		seen[name]++
	}
	if seen["a"] != 3 || seen["b"] != 3 {
		t.Fatalf("calls per backend: %v", seen)
	}
	// b reports NOT_SERVING: once polled, every call goes to a.
	b.health.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
	front.backends.pollOnce(context.Background())
	for i := 0; i < 4; i++ {
		if name, err := who(context.Background(), conn); err != nil || name != "a" {
			t.Fatalf("with b not serving: %q, %v", name, err)
		}
	}
}

func TestHealthIsServingOnlyWhileEveryBackendIs(t *testing.T) {
	a, b := startBackend(t, "a"), startBackend(t, "b")
	front := startFront(t, []*fakeBackend{a, b}, defaultLimits, nil)
	conn := dial(t, front.addr)
	if st, err := frontHealth(t, conn, ""); err != nil || st != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("both up: %v, %v", st, err)
	}
	// Named services are asked of every backend on the spot.
	if _, err := frontHealth(t, conn, "svc"); status.Code(err) != codes.NotFound {
		t.Fatalf("unknown service: %v", err)
	}
	a.health.SetServingStatus("svc", healthpb.HealthCheckResponse_SERVING)
	if st, _ := frontHealth(t, conn, "svc"); st != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Fatalf("svc known to a only: %v", st)
	}
	b.health.SetServingStatus("svc", healthpb.HealthCheckResponse_SERVING)
	if st, _ := frontHealth(t, conn, "svc"); st != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("svc on both: %v", st)
	}
	// A backend process gone: NOT_SERVING, for "" and for named services.
	b.server.Stop()
	front.backends.pollOnce(context.Background())
	if st, err := frontHealth(t, conn, ""); err != nil || st != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Fatalf("b down: %v, %v", st, err)
	}
	if st, _ := frontHealth(t, conn, "svc"); st != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Fatalf("svc with b down: %v", st)
	}
	if name, err := who(context.Background(), conn); err != nil || name != "a" {
		t.Fatalf("calls avoid the dead backend: %q, %v", name, err)
	}
}

// frontList is the front's health List as service -> status.
func frontList(t *testing.T, conn *grpc.ClientConn) (map[string]healthpb.HealthCheckResponse_ServingStatus, error) {
	t.Helper()
	reply, err := healthpb.NewHealthClient(conn).List(context.Background(), &healthpb.HealthListRequest{})
	got := map[string]healthpb.HealthCheckResponse_ServingStatus{}
	for name, st := range reply.GetStatuses() {
		got[name] = st.GetStatus()
	}
	return got, err
}

// List (the newer health.proto) was proxied to one backend (a Python one
// answered UNIMPLEMENTED); the front answers it for all, as it answers Check.
func TestHealthListMergesTheBackendsAsCheckDoes(t *testing.T) {
	const serving, notServing = healthpb.HealthCheckResponse_SERVING, healthpb.HealthCheckResponse_NOT_SERVING
	a, b := startBackend(t, "a"), startBackend(t, "b")
	front := startFront(t, []*fakeBackend{a, b}, defaultLimits, nil)
	conn := dial(t, front.addr)
	a.health.SetServingStatus("both", serving)
	b.health.SetServingStatus("both", serving)
	a.health.SetServingStatus("a.only", serving)
	b.health.SetServingStatus("b.down", notServing)
	a.health.SetServingStatus("b.down", serving)
	got, err := frontList(t, conn)
	want := map[string]healthpb.HealthCheckResponse_ServingStatus{
		"": serving, "both": serving, "a.only": notServing, "b.down": notServing,
	}
	if err != nil || !maps.Equal(got, want) {
		t.Fatalf("List: %v, %v; want %v", got, err, want)
	}
	b.server.Stop()
	front.backends.pollOnce(context.Background())
	got, err = frontList(t, conn)
	want = map[string]healthpb.HealthCheckResponse_ServingStatus{
		"": notServing, "both": notServing, "a.only": notServing, "b.down": notServing,
	}
	if err != nil || !maps.Equal(got, want) {
		t.Fatalf("List with b down: %v, %v; want %v", got, err, want)
	}
}

// List's limit is grpc-go's: over 100 services in all (here 60 on each
// backend), or a backend that refuses its own, is RESOURCE_EXHAUSTED.
func TestHealthListRefusesMoreServicesThanItsLimit(t *testing.T) {
	a, b := startBackend(t, "a"), startBackend(t, "b")
	front := startFront(t, []*fakeBackend{a, b}, defaultLimits, nil)
	conn := dial(t, front.addr)
	for i := 0; i < 60; i++ {
		a.health.SetServingStatus(fmt.Sprintf("a%d", i), healthpb.HealthCheckResponse_SERVING)
		b.health.SetServingStatus(fmt.Sprintf("b%d", i), healthpb.HealthCheckResponse_SERVING)
	}
	_, err := frontList(t, conn)
	if status.Code(err) != codes.ResourceExhausted || !strings.Contains(err.Error(), "TOO_MANY_SERVICES") {
		t.Fatalf("120 services in all: %v", err)
	}
	for i := 60; i < 100; i++ { // a: "" and 100 more
		a.health.SetServingStatus(fmt.Sprintf("a%d", i), healthpb.HealthCheckResponse_SERVING)
	}
	_, err = frontList(t, conn)
	if status.Code(err) != codes.ResourceExhausted || strings.Contains(err.Error(), "TOO_MANY_SERVICES") {
		t.Fatalf("a refuses its own list: %v", err)
	}
}

func TestHealthWatchFollowsTheBackends(t *testing.T) {
	a := startBackend(t, "a")
	front := startFront(t, []*fakeBackend{a}, defaultLimits, nil)
	conn := dial(t, front.addr)
	watch, err := healthpb.NewHealthClient(conn).Watch(context.Background(), &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if reply, err := watch.Recv(); err != nil || reply.Status != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("first: %v, %v", reply, err)
	}
	a.health.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
	front.backends.pollOnce(context.Background())
	if reply, err := watch.Recv(); err != nil || reply.Status != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Fatalf("after the change: %v, %v", reply, err)
	}
}

func TestProxyPassesMetadataAndTheCallersDeadline(t *testing.T) {
	a := startBackend(t, "a")
	front := startFront(t, []*fakeBackend{a}, defaultLimits, nil)
	conn := dial(t, front.addr)
	ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer t0k")
	if _, err := who(ctx, conn); err != nil {
		t.Fatal(err)
	}
	a.mu.Lock()
	if got := a.lastMD.Get("authorization"); len(got) != 1 || got[0] != "Bearer t0k" || a.hadDeadline {
		t.Fatalf("metadata %v, deadline %v", a.lastMD, a.hadDeadline)
	}
	a.mu.Unlock()
	// A call the backend never answers ends at the caller's deadline, and the
	// backend saw that deadline (it can stop working when the caller stops
	// waiting).
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	var out wrapperspb.StringValue
	err := conn.Invoke(ctx, "/test.Slow/Wait", wrapperspb.String("x"), &out)
	if status.Code(err) != codes.DeadlineExceeded {
		t.Fatalf("slow call: %v", err)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.hadDeadline {
		t.Fatal("the backend got no deadline")
	}
}

func TestOversizedMetadataIsResourceExhaustedOnEveryPath(t *testing.T) {
	a := startBackend(t, "a")
	front := startFront(t, []*fakeBackend{a}, defaultLimits, nil)
	conn := dial(t, front.addr)
	// Under the bound both paths answer; over it (a text or a binary value)
	// neither does, and the backend never sees the call.
	fits := metadata.AppendToOutgoingContext(context.Background(), "x-pad", strings.Repeat("a", maxMetadataBytes/2))
	if _, err := who(fits, conn); err != nil {
		t.Fatalf("under the bound: %v", err)
	}
	for _, pad := range []metadata.MD{
		metadata.Pairs("x-pad", strings.Repeat("a", maxMetadataBytes)),
		metadata.Pairs("x-pad-bin", strings.Repeat("a", maxMetadataBytes*3/4)),
	} {
		ctx := metadata.NewOutgoingContext(context.Background(), pad)
		a.mu.Lock()
		before := a.calls
		a.mu.Unlock()
		_, err := who(ctx, conn)
		if status.Code(err) != codes.ResourceExhausted {
			t.Fatalf("proxied, %d-byte metadata: %v", headerListBytes(pad), err)
		}
		a.mu.Lock()
		if a.calls != before {
			t.Fatal("the oversized call reached the backend")
		}
		a.mu.Unlock()
		var request, reply []byte
		err = conn.Invoke(ctx, "/featurestore.v1.FeatureStoreService/GetOnlineFeatures", &request, &reply, grpc.ForceCodec(rawCodec{}))
		if status.Code(err) != codes.ResourceExhausted {
			t.Fatalf("online read, %d-byte metadata: %v", headerListBytes(pad), err)
		}
		// Health too: answered by the front itself, it took any size.
		health := healthpb.NewHealthClient(conn)
		if _, err := health.Check(ctx, &healthpb.HealthCheckRequest{}); status.Code(err) != codes.ResourceExhausted {
			t.Fatalf("health Check, %d-byte metadata: %v", headerListBytes(pad), err)
		}
		watch, err := health.Watch(ctx, &healthpb.HealthCheckRequest{})
		if err == nil {
			_, err = watch.Recv()
		}
		if status.Code(err) != codes.ResourceExhausted {
			t.Fatalf("health Watch, %d-byte metadata: %v", headerListBytes(pad), err)
		}
	}
}

func TestHealthWatchersAreLimitedAsTheServerLimitsThem(t *testing.T) {
	a := startBackend(t, "a")
	front := startFront(t, []*fakeBackend{a}, defaultLimits, nil)
	front.backends.watchers = make(chan struct{}, 2)
	conn := dial(t, front.addr)
	health := healthpb.NewHealthClient(conn)
	open := func() (healthpb.Health_WatchClient, context.CancelFunc, error) {
		ctx, cancel := context.WithCancel(context.Background())
		watch, err := health.Watch(ctx, &healthpb.HealthCheckRequest{})
		if err == nil {
			_, err = watch.Recv()
		}
		return watch, cancel, err
	}
	_, cancelFirst, err := open()
	if err != nil {
		t.Fatal(err)
	}
	_, cancelSecond, err := open()
	if err != nil {
		t.Fatal(err)
	}
	defer cancelSecond()
	_, cancelThird, err := open()
	cancelThird()
	if status.Code(err) != codes.ResourceExhausted || !strings.Contains(err.Error(), "max_health_watchers") {
		t.Fatalf("a third watcher over a limit of 2: %v", err)
	}
	cancelFirst() // its slot frees once the front sees the stream end
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, cancel, err := open()
		cancel()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a closed watcher's slot was not freed: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestOnlineReadsCarryTheCallersMetadata(t *testing.T) {
	front := startFront(t, []*fakeBackend{startBackend(t, "a")}, defaultLimits, nil)
	conn := dial(t, front.addr)
	ctx := metadata.AppendToOutgoingContext(context.Background(),
		"authorization", "Bearer t0k", "x-request-id", "r-1", "x-request-id", "r-2",
		"trace-bin", "printable", "grpc-private", "no")
	var reply []byte
	request := []byte("metadata?")
	err := conn.Invoke(ctx, "/featurestore.v1.FeatureStoreService/GetOnlineFeatures", &request, &reply,
		grpc.ForceCodec(rawCodec{}))
	if err != nil {
		t.Fatal(err)
	}
	got := decodeBlock(t, reply)
	want := []string{"authorization=Bearer t0k", "x-request-id=r-1", "x-request-id=r-2"}
	for _, w := range want {
		if !contains(got, w) {
			t.Fatalf("%q missing from %q", w, got)
		}
	}
	for _, pair := range got {
		if strings.HasPrefix(pair, "grpc-") || strings.HasPrefix(pair, ":") || strings.Contains(pair, "-bin=") {
			t.Fatalf("forwarded %q: %q", pair, got)
		}
	}
	// Over the bound: RESOURCE_EXHAUSTED before anything reaches the socket.
	big := metadata.AppendToOutgoingContext(context.Background(), "x-pad", strings.Repeat("a", maxMetadataBytes))
	err = conn.Invoke(big, "/feast.serving.ServingService/GetOnlineFeatures", &request, &reply, grpc.ForceCodec(rawCodec{}))
	if status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("oversize metadata: %v", err)
	}
}

func decodeBlock(t *testing.T, block []byte) []string {
	t.Helper()
	var pairs []string
	for len(block) > 0 {
		var fields [2]string
		for i := range fields {
			n := int(binary.BigEndian.Uint16(block))
			fields[i], block = string(block[2:2+n]), block[2+n:]
		}
		pairs = append(pairs, fields[0]+"="+fields[1])
	}
	return pairs
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func TestEncodeMetadataBound(t *testing.T) {
	key := "x-pad"
	exact := metadata.Pairs(key, strings.Repeat("a", maxMetadataBytes-4-len(key)))
	if block, err := encodeMetadata(exact); err != nil || len(block) != maxMetadataBytes {
		t.Fatalf("at the bound: %d bytes, %v", len(block), err)
	}
	over := metadata.Pairs(key, strings.Repeat("a", maxMetadataBytes-3-len(key)))
	if _, err := encodeMetadata(over); status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("one over: %v", err)
	}
	if block, _ := encodeMetadata(metadata.Pairs("x-odd", "caf\u00e9")); len(block) != 0 {
		t.Fatalf("non-ASCII value forwarded: %q", block)
	}
}

// rawHTTP2 opens a plaintext HTTP/2 connection to addr (preface and an empty
// SETTINGS sent, reads time out after 5 s), closed when the test ends.
func rawHTTP2(t *testing.T, addr string) *http2.Framer {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := conn.Write([]byte(http2.ClientPreface)); err != nil {
		t.Fatal(err)
	}
	framer := http2.NewFramer(conn, conn)
	if err := framer.WriteSettings(); err != nil {
		t.Fatal(err)
	}
	return framer
}

// The stream cap is announced in the server's SETTINGS frame, so a client
// queues calls beyond it instead of the front accepting them.
func TestMaxConcurrentStreamsIsAnnounced(t *testing.T) {
	front := startFront(t, []*fakeBackend{startBackend(t, "a")}, limits{1 << 20, 7}, nil)
	framer := rawHTTP2(t, front.addr)
	for {
		frame, err := framer.ReadFrame()
		if err != nil {
			t.Fatal(err)
		}
		if settings, ok := frame.(*http2.SettingsFrame); ok && !settings.IsAck() {
			if v, ok := settings.Value(http2.SettingMaxConcurrentStreams); !ok || v != 7 {
				t.Fatalf("MAX_CONCURRENT_STREAMS %d (%v)", v, ok)
			}
			return
		}
	}
}

// An online read over a raw HTTP/2 connection: the front announces fixed
// windows (the call's in SETTINGS, the connection's as a WINDOW_UPDATE) and
// answers without a PING (grpc-go's bandwidth probe, one more write per call
// at a low call rate).
func TestOnlineReadSendsNoBandwidthProbe(t *testing.T) {
	front := startFront(t, []*fakeBackend{startBackend(t, "a")}, defaultLimits, nil)
	framer := rawHTTP2(t, front.addr)
	var block bytes.Buffer
	encoder := hpack.NewEncoder(&block)
	for _, field := range [][2]string{
		{":method", "POST"}, {":scheme", "http"}, {":authority", front.addr},
		{":path", "/featurestore.v1.FeatureStoreService/GetOnlineFeatures"},
		{"content-type", "application/grpc"}, {"te", "trailers"},
	} {
		if err := encoder.WriteField(hpack.HeaderField{Name: field[0], Value: field[1]}); err != nil {
			t.Fatal(err)
		}
	}
	message := []byte{0, 0, 0, 0, 3, 0, 'a', 'b'} // uncompressed, 3 bytes
	if err := framer.WriteHeaders(http2.HeadersFrameParam{
		StreamID: 1, BlockFragment: block.Bytes(), EndHeaders: true,
	}); err != nil {
		t.Fatal(err)
	}
	if err := framer.WriteData(1, true, message); err != nil {
		t.Fatal(err)
	}
	var reply []byte
	var streamWindow, connIncrement uint32
	pings := 0
	for ended := false; !ended; {
		frame, err := framer.ReadFrame()
		if err != nil {
			t.Fatal(err)
		}
		switch f := frame.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() {
				streamWindow, _ = f.Value(http2.SettingInitialWindowSize)
				if err := framer.WriteSettingsAck(); err != nil {
					t.Fatal(err)
				}
			}
		case *http2.WindowUpdateFrame:
			if f.StreamID == 0 {
				connIncrement += f.Increment
			}
		case *http2.PingFrame:
			if !f.IsAck() {
				pings++
			}
		case *http2.DataFrame:
			reply = append(reply, f.Data()...)
		case *http2.HeadersFrame:
			ended = f.StreamEnded()
		}
	}
	// serveFrames answers the body reversed.
	if want := []byte{0, 0, 0, 0, 3, 'b', 'a', 0}; !bytes.Equal(reply, want) {
		t.Errorf("reply %v, want %v", reply, want)
	}
	if streamWindow != streamWindowBytes {
		t.Errorf("INITIAL_WINDOW_SIZE %d, want %d", streamWindow, streamWindowBytes)
	}
	if connIncrement != connWindowBytes-65535 {
		t.Errorf("connection window raised by %d, want %d", connIncrement, connWindowBytes-65535)
	}
	if pings != 0 {
		t.Errorf("the front sent %d PING(s) during an online read", pings)
	}
}

// waitInFlight waits until the backends have, between them, want calls in
// flight as the front counts them.
func waitInFlight(t *testing.T, set *backendSet, want int64) {
	t.Helper()
	for i := 0; i < 500; i++ {
		var total int64
		for _, b := range set.backends {
			total += b.inFlight.Load()
		}
		if total == want {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("calls in flight never reached %d", want)
}

// A long call holding one backend (as a training-set stream holds a
// process's slots) sends every next call to the other, where round robin
// would send every second one to the busy backend.
func TestProxySendsACallToTheBackendWithFewestInFlight(t *testing.T) {
	a, b := startBackend(t, "a"), startBackend(t, "b")
	front := startFront(t, []*fakeBackend{a, b}, defaultLimits, nil)
	conn := dial(t, front.addr)
	ctx, cancel := context.WithCancel(context.Background())
	slow := make(chan error, 1)
	go func() {
		var out wrapperspb.StringValue
		slow <- conn.Invoke(ctx, "/test.Slow/Wait", wrapperspb.String("x"), &out)
	}()
	var busy, idle *fakeBackend
	for i := 0; busy == nil; i++ {
		if i == 500 {
			t.Fatal("the slow call reached no backend")
		}
		time.Sleep(10 * time.Millisecond)
		for _, pair := range [][2]*fakeBackend{{a, b}, {b, a}} {
			pair[0].mu.Lock()
			if pair[0].calls == 1 {
				busy, idle = pair[0], pair[1]
			}
			pair[0].mu.Unlock()
		}
	}
	for i := 0; i < 4; i++ {
		if name, err := who(context.Background(), conn); err != nil || name != idle.name {
			t.Fatalf("call %d while %s is busy: %q, %v", i, busy.name, name, err)
		}
	}
	cancel()
	if err := <-slow; status.Code(err) != codes.Canceled {
		t.Fatalf("slow call: %v", err)
	}
	waitInFlight(t, front.backends, 0)
	seen := map[string]int{}
	for i := 0; i < 4; i++ {
		name, err := who(context.Background(), conn)
		if err != nil {
			t.Fatal(err)
		}
		seen[name]++
	}
	if seen["a"] != 2 || seen["b"] != 2 {
		t.Fatalf("equal backends take turns: %v", seen)
	}
}

// A backend that answers health NOT_SERVING (its online store down, say) is
// alive: with none serving, calls still go to it for its own answer. One that
// does not answer at all (stopped, hung) gets none: once polled, a call fails
// UNAVAILABLE at once instead of waiting out its deadline there. Before the
// first poll a call goes through (start-up).
func TestProxyIsUnavailableAtOnceOnlyWhenNoBackendAnswers(t *testing.T) {
	a := startBackend(t, "a")
	a.health.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
	front := startFront(t, []*fakeBackend{a}, defaultLimits, nil)
	conn := dial(t, front.addr)
	if name, err := who(context.Background(), conn); err != nil || name != "a" {
		t.Fatalf("alive but not serving: %q, %v", name, err)
	}
	// A process that accepts connections and never speaks, as a stopped one.
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer lis.Close()
	go func() {
		for {
			c, err := lis.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	hung, err := dialBackends([]string{lis.Addr().String()}, 300*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if b, err := hung.pick(); err != nil || b == nil {
		t.Fatalf("before the first poll: %v, %v", b, err)
	}
	hung.pollOnce(context.Background())
	if _, err := hung.pick(); status.Code(err) != codes.Unavailable ||
		!strings.Contains(status.Convert(err).Message(), "NO_PROCESS_ANSWERING") {
		t.Fatalf("none answering: %v", err)
	}
}
