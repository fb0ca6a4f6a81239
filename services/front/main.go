// Command fs-front is the compiled gRPC front of the feature store server.
//
// grpc-python costs ~0.45 ms of CPU per call before a handler runs, which on
// a small machine sets the tail latency of one-entity online reads. The front
// terminates gRPC in Go and hands each GetOnlineFeatures call (ours and
// Feast's ServingService) to the Python server processes over Unix sockets
// (services/server/ipc.py), where the same handlers, errors and metrics run.
// Every other call (reflection, catalogue, training sets, contracts) is
// proxied unchanged to the Python server processes' own gRPC ports: to the
// healthy one with the fewest proxied calls in flight. Health is answered here: SERVING only while
// every process reports SERVING. The front terminates TLS (and mTLS) itself;
// the caller's metadata reaches the processes on both paths, so they
// authenticate and authorise every call.
//
// Started by `python -m services.server --front`; see README.
package main

import (
	"context"
	"flag"
	"log"
	"net"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"google.golang.org/grpc/credentials"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:6566", "host:port to serve gRPC on")
	backend := flag.String("backend", "", "comma-separated gRPC target of each Python server process (unix:/path, as the supervisor starts them, or host:port) "+
		"(everything but online reads: the healthy one with the fewest calls in flight)")
	sockets := flag.String("online-sockets", "", "comma-separated Unix sockets of the Python servers "+
		"(in --backend's order: socket i and backend i are one process)")
	conns := flag.Int("conns", 1, "connections per Unix socket: the server process serves each on its own thread")
	depth := flag.Int("depth", 2, "reads in flight per connection, pipelined (the process answers them in order)")
	maxRequest := flag.Int("max-request-bytes", 64<<20, "largest accepted request message")
	maxStreams := flag.Uint("max-concurrent-streams", 256, "most calls in flight on one client connection")
	healthInterval := flag.Duration("health-interval", time.Second, "how often each backend's health is polled")
	maxWatchers := flag.Int("max-health-watchers", 0, "most health Watch streams open at once (the server's max_health_watchers); 0: no limit")
	tlsCert := flag.String("tls-cert", "", "PEM certificate chain; with --tls-key serves TLS (re-read on change or SIGHUP)")
	tlsKey := flag.String("tls-key", "", "PEM private key of --tls-cert")
	tlsClientCA := flag.String("tls-client-ca", "", "PEM CA bundle; clients must present a certificate it signed (mTLS)")
	grace := flag.Duration("grace", 5*time.Second, "how long in-flight calls may finish after SIGTERM")
	procs := flag.Int("procs", 0, "threads running Go code at once (GOMAXPROCS); 0: Go's default, one per CPU. "+
		"Beside the server processes, fewer spend less CPU on threads spinning for work")
	flag.Parse()
	if *procs > 0 {
		runtime.GOMAXPROCS(*procs)
	}
	if os.Getenv("GOGC") == "" {
		// The live heap is a few MB, so Go's default (collect when the heap
		// doubles) collects many times a second under load, and on one or two
		// threads a collection holds up the calls in flight: the 1x50 p99 at
		// 1000 rps through TLS was 0.1-0.4 ms higher. Collecting at 5x the
		// live heap costs tens of MB. GOGC still overrides it.
		debug.SetGCPercent(400)
	}
	if *backend == "" || *sockets == "" {
		log.Fatal("fs-front: --backend and --online-sockets are required")
	}
	if (*tlsCert == "") != (*tlsKey == "") || (*tlsClientCA != "" && *tlsCert == "") {
		log.Fatal("fs-front: --tls-cert and --tls-key go together; --tls-client-ca needs both")
	}
	backends, err := dialBackends(strings.Split(*backend, ","), *healthInterval)
	if err != nil {
		log.Fatalf("fs-front: backend %s: %v", *backend, err)
	}
	if *maxWatchers > 0 {
		backends.watchers = make(chan struct{}, *maxWatchers)
	}
	// Socket i and backend i are one process when they pair up.
	paths := strings.Split(*sockets, ",")
	var serving []*atomic.Bool
	if len(paths) == len(backends.backends) {
		for _, b := range backends.backends {
			serving = append(serving, &b.serving)
		}
	}
	online := newWorkerPool(paths, *conns, *depth, serving)
	if serving != nil {
		var answered []*atomic.Bool
		for _, b := range backends.backends {
			answered = append(answered, &b.answered)
		}
		online.watch(answered, &backends.polled)
	}
	var creds credentials.TransportCredentials
	var certs *certReloader
	if *tlsCert != "" {
		if certs, err = newCertReloader(*tlsCert, *tlsKey, *tlsClientCA); err != nil {
			log.Fatalf("fs-front: %v", err)
		}
		creds = credentials.NewTLS(certs.serverConfig())
	}
	server := newServer(online, backends, limits{*maxRequest, uint32(*maxStreams)}, creds)
	lis, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatalf("fs-front: %v", err)
	}
	ctx, stopPolling := context.WithCancel(context.Background())
	go backends.watch(ctx)
	log.Printf("fs-front: serving on %s, TLS %v, %d procs (online reads -> %s; the rest -> %s)",
		lis.Addr(), creds != nil, runtime.GOMAXPROCS(0), *sockets, *backend)
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	hangup := make(chan os.Signal, 1)
	signal.Notify(hangup, syscall.SIGHUP)
	go func() {
		for range hangup {
			if certs == nil {
				continue
			}
			if err := certs.Reload(); err != nil {
				log.Printf("fs-front: error: SIGHUP: keeping the previous certificate: %v", err)
			} else {
				log.Printf("fs-front: SIGHUP: certificates re-read")
			}
		}
	}()
	go func() {
		<-stop
		log.Printf("fs-front: draining for up to %s", *grace)
		timer := time.AfterFunc(*grace, server.Stop)
		server.GracefulStop()
		timer.Stop()
		stopPolling()
	}()
	if err := server.Serve(lis); err != nil {
		log.Fatalf("fs-front: %v", err)
	}
}
