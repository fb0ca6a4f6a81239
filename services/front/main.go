// Command fs-front is the compiled gRPC front of the feature store server.
//
// grpc-python costs ~0.45 ms of CPU per call before a handler runs, which on
// a small machine sets the tail latency of one-entity online reads. The front
// terminates gRPC in Go and hands each GetOnlineFeatures call (ours and
// Feast's ServingService) to the Python server processes over Unix sockets
// (services/server/ipc.py), where the same handlers, errors and metrics run.
// Every other call (health, reflection, catalogue, training sets, contracts)
// is proxied unchanged to the Python servers' gRPC port.
//
// Started by `python -m services.server --front`; see README.
package main

import (
	"flag"
	"log"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:6566", "host:port to serve gRPC on")
	backend := flag.String("backend", "", "host:port of the Python servers' gRPC port (everything but online reads)")
	sockets := flag.String("online-sockets", "", "comma-separated Unix sockets of the Python servers")
	conns := flag.Int("conns", 2, "connections per Unix socket, i.e. reads in flight per server process "+
		"(2 gave a lower 1x50 p99 than 1 or 4 on 2 cores)")
	maxRequest := flag.Int("max-request-bytes", 64<<20, "largest accepted request message")
	grace := flag.Duration("grace", 5*time.Second, "how long in-flight calls may finish after SIGTERM")
	flag.Parse()
	if *backend == "" || *sockets == "" {
		log.Fatal("fs-front: --backend and --online-sockets are required")
	}
	online := newWorkerPool(strings.Split(*sockets, ","), *conns)
	upstream, err := grpc.NewClient(*backend,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(
			grpc.ForceCodec(rawCodec{}),
			grpc.MaxCallRecvMsgSize(1<<30), grpc.MaxCallSendMsgSize(1<<30)))
	if err != nil {
		log.Fatalf("fs-front: backend %s: %v", *backend, err)
	}
	server := newServer(online, upstream, *maxRequest)
	lis, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatalf("fs-front: %v", err)
	}
	log.Printf("fs-front: serving on %s (online reads -> %s; the rest -> %s)", lis.Addr(), *sockets, *backend)
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-stop
		log.Printf("fs-front: draining for up to %s", *grace)
		timer := time.AfterFunc(*grace, server.Stop)
		server.GracefulStop()
		timer.Stop()
	}()
	if err := server.Serve(lis); err != nil {
		log.Fatalf("fs-front: %v", err)
	}
}
