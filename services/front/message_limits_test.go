package main

import (
	"bytes"
	"context"
	"strconv"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// dialGzip is a client compressing every call with gzip. It uses grpc-go's
// legacy compressor options on purpose: importing encoding/gzip here would
// register gzip for the whole test binary, the front's server included, and
// these tests would pass without the front registering it itself.
func dialGzip(t *testing.T, addr string) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithCompressor(grpc.NewGZIPCompressor()), grpc.WithDecompressor(grpc.NewGZIPDecompressor()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// A client compressing its calls with gzip is served on every path, as the
// Python server serves it: proxied calls, online reads and health.
func TestGzipCallsAreServedOnEveryPath(t *testing.T) {
	front := startFront(t, []*fakeBackend{startBackend(t, "a")}, defaultLimits, nil)
	conn := dialGzip(t, front.addr)
	var out wrapperspb.StringValue
	if err := conn.Invoke(context.Background(), "/test.Echo/Who", wrapperspb.String("hi"), &out); err != nil || out.Value != "a" {
		t.Fatalf("proxied: %q, %v", out.Value, err)
	}
	request, reply := []byte("abc"), []byte(nil)
	err := conn.Invoke(context.Background(), "/featurestore.v1.FeatureStoreService/GetOnlineFeatures",
		&request, &reply, grpc.ForceCodec(rawCodec{}))
	if err != nil || string(reply) != "cba" {
		t.Fatalf("online read: %q, %v", reply, err)
	}
	got, err := healthpb.NewHealthClient(conn).Check(context.Background(), &healthpb.HealthCheckRequest{})
	if err != nil || got.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health: %v, %v", got, err)
	}
}

// The request limit is on the message as decompressed: a small gzip bomb
// (64 MiB of zeros, ~64 KB on the wire) is RESOURCE_EXHAUSTED naming the
// limit, on both paths, and never reaches a backend.
func TestGzipBombIsOverTheRequestLimit(t *testing.T) {
	a := startBackend(t, "a")
	front := startFront(t, []*fakeBackend{a}, defaultLimits, nil)
	conn := dialGzip(t, front.addr)
	bomb := bytes.Repeat([]byte{0}, 64<<20)
	limit := strconv.Itoa(defaultLimits.maxRequestBytes)
	for _, method := range []string{"/test.Echo/Who", "/featurestore.v1.FeatureStoreService/GetOnlineFeatures"} {
		var reply []byte
		err := conn.Invoke(context.Background(), method, &bomb, &reply, grpc.ForceCodec(rawCodec{}))
		if status.Code(err) != codes.ResourceExhausted || !strings.Contains(err.Error(), limit) {
			t.Fatalf("%s: %v", method, err)
		}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.calls != 0 {
		t.Fatalf("the backend saw %d oversized calls", a.calls)
	}
}

// An online answer over the Python server's 64 MiB send limit is refused as a
// direct call's is (RESOURCE_EXHAUSTED naming the limit), not sent; one at
// the limit is sent.
func TestOnlineAnswerOverTheServersSendLimitIsResourceExhausted(t *testing.T) {
	front := startFront(t, []*fakeBackend{startBackend(t, "a")}, defaultLimits, nil)
	conn := dial(t, front.addr)
	receiveAll := grpc.MaxCallRecvMsgSize(1 << 30)
	online := func(size int) ([]byte, error) {
		request, reply := []byte("bytes="+strconv.Itoa(size)), []byte(nil)
		err := conn.Invoke(context.Background(), "/featurestore.v1.FeatureStoreService/GetOnlineFeatures",
			&request, &reply, grpc.ForceCodec(rawCodec{}), receiveAll)
		return reply, err
	}
	if reply, err := online(64 << 20); err != nil || len(reply) != 64<<20 {
		t.Fatalf("at the limit: %d bytes, %v", len(reply), err)
	}
	_, err := online(64<<20 + 1)
	if status.Code(err) != codes.ResourceExhausted || !strings.Contains(err.Error(), strconv.Itoa(64<<20)) {
		t.Fatalf("over the limit: %v", err)
	}
}
