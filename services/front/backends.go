package main

import (
	"context"
	"log"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

const (
	healthCheckMethod = "/grpc.health.v1.Health/Check"
	healthListMethod  = "/grpc.health.v1.Health/List"
	// maxListedServices: List answers RESOURCE_EXHAUSTED above this many
	// services, as grpc-go's health server and the Python servers do.
	maxListedServices = 100
)

// backendSet holds one gRPC connection per Python server process (each on
// its own loopback port) and what their health checks last said. A proxied
// call goes to the healthy process with the fewest proxied calls in flight
// (round robin among equals), so a long training-set stream holding one
// process's slots sends the next calls to the others.
type backendSet struct {
	backends []*backend
	next     atomic.Uint64
	interval time.Duration // between health polls; also each poll's timeout
	// polled is set once the first poll has answered for every backend:
	// before it, "not serving" only means "not asked yet".
	polled  atomic.Bool
	changed chan struct{} // closed and replaced after every poll
	mu      sync.Mutex
	// watchers holds a token per open health Watch stream: its capacity is
	// the server's max_health_watchers (nil: no limit). Health needs no
	// credentials, so this bounds what an unauthenticated caller holds open.
	watchers chan struct{}
}

type backend struct {
	addr    string
	conn    *grpc.ClientConn
	serving atomic.Bool
	// answered: its last health check got an answer, SERVING or not. A
	// process NOT_SERVING because its online store is down still answers
	// every call (UNAVAILABLE for reads, the catalogue as usual); one that
	// did not answer (stopped, hung, gone) would hold a call until its deadline.
	answered atomic.Bool
	inFlight atomic.Int64 // proxied calls sent to it and not yet finished
}

func dialBackends(addrs []string, interval time.Duration) (*backendSet, error) {
	set := &backendSet{interval: interval, changed: make(chan struct{})}
	for _, addr := range addrs {
		conn, err := grpc.NewClient(addr,
			grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithDefaultCallOptions(
				grpc.ForceCodec(rawCodec{}),
				grpc.MaxCallRecvMsgSize(1<<30), grpc.MaxCallSendMsgSize(1<<30)))
		if err != nil {
			return nil, err
		}
		set.backends = append(set.backends, &backend{addr: addr, conn: conn})
	}
	return set, nil
}

// pick is the backend for the next proxied call: of those that last reported
// SERVING, the one with the fewest calls in flight, the round-robin order
// deciding among equals. When none is serving, the same among those that
// answered their health check at all (alive, a dependency down: the process
// gives the call its own answer). When none answered: before the first poll
// (start-up) the next one in order; after it, UNAVAILABLE at once, since a
// hung process (stopped, swapping) would hold the call until its deadline,
// or for ever without one.
func (s *backendSet) pick() (*backend, error) {
	n := uint64(len(s.backends))
	start := s.next.Add(1) - 1
	for _, ok := range []func(*backend) bool{
		func(b *backend) bool { return b.serving.Load() },
		func(b *backend) bool { return b.answered.Load() },
	} {
		var best *backend
		for i := uint64(0); i < n; i++ {
			b := s.backends[(start+i)%n]
			if ok(b) && (best == nil || b.inFlight.Load() < best.inFlight.Load()) {
				best = b
			}
		}
		if best != nil {
			return best, nil
		}
	}
	if !s.polled.Load() {
		return s.backends[start%n], nil
	}
	return nil, errNoneAnswering(len(s.backends))
}

// errNoneAnswering is the UNAVAILABLE a call gets when no server process
// answered its last health check.
func errNoneAnswering(processes int) error {
	return status.Errorf(codes.Unavailable,
		"NO_PROCESS_ANSWERING: none of the %d server processes answered its last "+
			"health check (stopped, hung or gone); retry later", processes)
}

// watch polls every backend's overall health each interval until ctx ends.
func (s *backendSet) watch(ctx context.Context) {
	for {
		s.pollOnce(ctx)
		select {
		case <-ctx.Done():
			return
		case <-time.After(s.interval):
		}
	}
}

// pollOnce asks every backend for its overall ("") health at once and
// records the answers; an error or a timeout counts as not serving.
func (s *backendSet) pollOnce(ctx context.Context) {
	var wg sync.WaitGroup
	for _, b := range s.backends {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st, err := b.check(ctx, "", s.interval)
			serving := err == nil && st == healthpb.HealthCheckResponse_SERVING
			b.answered.Store(err == nil)
			if b.serving.Swap(serving) != serving {
				log.Printf("fs-front: backend %s serving=%v (%v)", b.addr, serving, err)
			}
		}()
	}
	wg.Wait()
	s.polled.Store(true)
	s.mu.Lock()
	close(s.changed)
	s.changed = make(chan struct{})
	s.mu.Unlock()
}

func (b *backend) check(ctx context.Context, service string, timeout time.Duration) (healthpb.HealthCheckResponse_ServingStatus, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	request, _ := proto.Marshal(&healthpb.HealthCheckRequest{Service: service})
	var reply []byte
	if err := b.conn.Invoke(ctx, healthCheckMethod, &request, &reply); err != nil {
		return healthpb.HealthCheckResponse_UNKNOWN, err
	}
	var response healthpb.HealthCheckResponse
	if err := proto.Unmarshal(reply, &response); err != nil {
		return healthpb.HealthCheckResponse_UNKNOWN, err
	}
	return response.Status, nil
}

func (b *backend) list(ctx context.Context, timeout time.Duration) (map[string]*healthpb.HealthCheckResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	request, _ := proto.Marshal(&healthpb.HealthListRequest{})
	var reply []byte
	if err := b.conn.Invoke(ctx, healthListMethod, &request, &reply); err != nil {
		return nil, err
	}
	var response healthpb.HealthListResponse
	if err := proto.Unmarshal(reply, &response); err != nil {
		return nil, err
	}
	return response.Statuses, nil
}

// statuses is the front's List: every service some backend lists, SERVING
// only when every backend lists it SERVING (as status answers for one name),
// and the overall "" from the last poll.
func (s *backendSet) statuses(ctx context.Context) (map[string]healthpb.HealthCheckResponse_ServingStatus, error) {
	answers := make([]map[string]*healthpb.HealthCheckResponse, len(s.backends))
	errs := make([]error, len(s.backends))
	var wg sync.WaitGroup
	for i, b := range s.backends {
		wg.Add(1)
		go func() {
			defer wg.Done()
			answers[i], errs[i] = b.list(ctx, s.interval) // nil: not serving
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if status.Code(err) == codes.ResourceExhausted { // its list is too long
			return nil, err
		}
	}
	merged := map[string]healthpb.HealthCheckResponse_ServingStatus{}
	for _, answer := range answers {
		for name := range answer {
			merged[name] = healthpb.HealthCheckResponse_SERVING
		}
	}
	for name := range merged {
		for _, answer := range answers {
			if answer[name].GetStatus() != healthpb.HealthCheckResponse_SERVING {
				merged[name] = healthpb.HealthCheckResponse_NOT_SERVING
			}
		}
	}
	merged[""], _ = s.status(ctx, "")
	if len(merged) > maxListedServices {
		return nil, status.Errorf(codes.ResourceExhausted,
			"TOO_MANY_SERVICES: %d services exceed the %d health List answers; "+
				"use Check per service", len(merged), maxListedServices)
	}
	return merged, nil
}

// status is the front's health for service: SERVING only when every backend
// is. The overall status ("") comes from the last poll, so a probe costs no
// hop; a named service is asked of every backend now, and is NOT_FOUND only
// when every backend says so.
func (s *backendSet) status(ctx context.Context, service string) (healthpb.HealthCheckResponse_ServingStatus, error) {
	if service == "" {
		for _, b := range s.backends {
			if !b.serving.Load() {
				return healthpb.HealthCheckResponse_NOT_SERVING, nil
			}
		}
		return healthpb.HealthCheckResponse_SERVING, nil
	}
	answers := make([]error, len(s.backends))
	var wg sync.WaitGroup
	for i, b := range s.backends {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st, err := b.check(ctx, service, s.interval)
			if err == nil && st != healthpb.HealthCheckResponse_SERVING {
				err = status.Error(codes.Unavailable, st.String())
			}
			answers[i] = err
		}()
	}
	wg.Wait()
	notFound := 0
	for _, err := range answers {
		if status.Code(err) == codes.NotFound {
			notFound++
		}
	}
	switch {
	case notFound == len(answers):
		return healthpb.HealthCheckResponse_SERVICE_UNKNOWN, status.Errorf(codes.NotFound, "unknown service %q", service)
	case notFound > 0:
		return healthpb.HealthCheckResponse_NOT_SERVING, nil
	}
	for _, err := range answers {
		if err != nil {
			return healthpb.HealthCheckResponse_NOT_SERVING, nil
		}
	}
	return healthpb.HealthCheckResponse_SERVING, nil
}

// healthService answers grpc.health.v1.Health in the front itself (no
// credentials asked: the front authenticates nothing, and health is open on
// the Python servers too). Messages arrive raw (rawCodec) and are parsed here.
func healthService(s *backendSet) *grpc.ServiceDesc {
	return &grpc.ServiceDesc{
		ServiceName: "grpc.health.v1.Health",
		HandlerType: (*any)(nil),
		Methods: []grpc.MethodDesc{{
			MethodName: "Check",
			Handler: func(_ any, ctx context.Context, decode func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
				md, _ := metadata.FromIncomingContext(ctx)
				if err := checkMetadataSize(md); err != nil {
					return nil, err
				}
				var request healthpb.HealthCheckRequest
				if err := decodeProto(decode, &request); err != nil {
					return nil, err
				}
				st, err := s.status(ctx, request.Service)
				if err != nil {
					return nil, err
				}
				reply, _ := proto.Marshal(&healthpb.HealthCheckResponse{Status: st})
				return &reply, nil
			},
		}, {
			MethodName: "List",
			Handler: func(_ any, ctx context.Context, decode func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
				md, _ := metadata.FromIncomingContext(ctx)
				if err := checkMetadataSize(md); err != nil {
					return nil, err
				}
				if err := decodeProto(decode, &healthpb.HealthListRequest{}); err != nil {
					return nil, err
				}
				merged, err := s.statuses(ctx)
				if err != nil {
					return nil, err
				}
				response := &healthpb.HealthListResponse{Statuses: map[string]*healthpb.HealthCheckResponse{}}
				for name, st := range merged {
					response.Statuses[name] = &healthpb.HealthCheckResponse{Status: st}
				}
				reply, _ := proto.Marshal(response)
				return &reply, nil
			},
		}},
		Streams: []grpc.StreamDesc{{
			StreamName:    "Watch",
			ServerStreams: true,
			Handler:       func(_ any, stream grpc.ServerStream) error { return s.watchHealth(stream) },
		}},
	}
}

// watchHealth sends the service's status now and again whenever it changes
// (looked at after every poll), until the caller goes away.
func (s *backendSet) watchHealth(stream grpc.ServerStream) error {
	md, _ := metadata.FromIncomingContext(stream.Context())
	if err := checkMetadataSize(md); err != nil {
		return err
	}
	if s.watchers != nil {
		select {
		case s.watchers <- struct{}{}:
			defer func() { <-s.watchers }()
		default:
			return status.Errorf(codes.ResourceExhausted,
				"TOO_MANY_WATCHERS: %d health Watch streams are open (setting "+
					"max_health_watchers); use Check or retry later", cap(s.watchers))
		}
	}
	var raw []byte
	if err := stream.RecvMsg(&raw); err != nil {
		return err
	}
	var request healthpb.HealthCheckRequest
	if err := proto.Unmarshal(raw, &request); err != nil {
		return status.Errorf(codes.InvalidArgument, "bad HealthCheckRequest: %v", err)
	}
	ctx := stream.Context()
	last := healthpb.HealthCheckResponse_ServingStatus(-1)
	for {
		s.mu.Lock()
		changed := s.changed
		s.mu.Unlock()
		st, err := s.status(ctx, request.Service)
		if status.Code(err) == codes.NotFound {
			st = healthpb.HealthCheckResponse_SERVICE_UNKNOWN
		}
		if st != last {
			reply, _ := proto.Marshal(&healthpb.HealthCheckResponse{Status: st})
			if err := stream.SendMsg(&reply); err != nil {
				return err
			}
			last = st
		}
		select {
		case <-ctx.Done():
			return status.FromContextError(ctx.Err()).Err()
		case <-changed:
		}
	}
}

func decodeProto(decode func(any) error, message proto.Message) error {
	var raw []byte
	if err := decode(&raw); err != nil {
		return err
	}
	if err := proto.Unmarshal(raw, message); err != nil {
		return status.Errorf(codes.InvalidArgument, "bad %s: %v", message.ProtoReflect().Descriptor().Name(), err)
	}
	return nil
}
