package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
)

// options are the command line, parsed and checked.
type options struct {
	addr     string
	method   string
	bodyPath string
	rate     int
	workers  int
	duration time.Duration
	conns    int
	timeout  time.Duration
	// TLS: on when caPath is set.
	caPath     string
	certPath   string
	keyPath    string
	serverName string
	// Sent on every call; empty for none.
	headers metadata.MD
}

// headerFlag collects repeated -H "key: value" flags into metadata.
type headerFlag struct{ md metadata.MD }

func (h *headerFlag) String() string { return fmt.Sprint(h.md) }

func (h *headerFlag) Set(value string) error {
	key, val, err := parseHeader(value)
	if err != nil {
		return err
	}
	h.md.Append(key, val)
	return nil
}

// parseHeader splits "key: value" at the first colon; the key is lowercased
// (gRPC metadata keys are) and both sides are trimmed.
func parseHeader(s string) (string, string, error) {
	key, val, found := strings.Cut(s, ":")
	key, val = strings.ToLower(strings.TrimSpace(key)), strings.TrimSpace(val)
	if !found || key == "" {
		return "", "", fmt.Errorf("header %q is not \"key: value\"", s)
	}
	for _, r := range key {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return "", "", fmt.Errorf("header key %q: only a-z 0-9 - _ . allowed", key)
		}
	}
	if strings.HasPrefix(key, "grpc-") || key[0] == ':' {
		return "", "", fmt.Errorf("header key %q is reserved by gRPC", key)
	}
	return key, val, nil
}

// maxRate keeps a -rate run's interval at a microsecond or more.
const maxRate = 1_000_000

// parseFlags reads the command line (without the program name).
func parseFlags(args []string) (*options, error) {
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	o := &options{}
	headers := &headerFlag{md: metadata.MD{}}
	fs.StringVar(&o.addr, "addr", "127.0.0.1:6566", "server host:port")
	fs.StringVar(&o.method, "method", "/featurestore.v1.FeatureStoreService/GetOnlineFeatures", "full method name")
	fs.StringVar(&o.bodyPath, "body", "", "file of length-prefixed serialised requests")
	fs.IntVar(&o.rate, "rate", 0, "requests per second; 0 = saturate with -c workers")
	fs.IntVar(&o.workers, "c", 8, "concurrent requests (saturation) or maximum in flight (fixed rate)")
	fs.DurationVar(&o.duration, "d", 10*time.Second, "how long to send")
	fs.IntVar(&o.conns, "conns", 2, "HTTP/2 connections")
	fs.DurationVar(&o.timeout, "timeout", 30*time.Second, "deadline per request")
	fs.StringVar(&o.caPath, "ca", "", "PEM root CA: connect with TLS, trusting only this CA")
	fs.StringVar(&o.certPath, "cert", "", "PEM client certificate for mTLS (with -key and -ca)")
	fs.StringVar(&o.keyPath, "key", "", "PEM private key of -cert")
	fs.StringVar(&o.serverName, "server-name", "", "name to verify the server certificate against (default: -addr's host)")
	fs.Var(headers, "H", `metadata "key: value" sent on every call (repeatable)`)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(os.Stderr)
			fs.PrintDefaults()
		}
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if (o.certPath == "") != (o.keyPath == "") {
		return nil, errors.New("-cert and -key go together")
	}
	if o.caPath == "" && (o.certPath != "" || o.serverName != "") {
		return nil, errors.New("-cert, -key and -server-name need -ca (TLS)")
	}
	if o.rate < 0 || o.rate > maxRate {
		return nil, fmt.Errorf("-rate %d: want 0 (saturate) to %d", o.rate, maxRate)
	}
	if o.duration <= 0 {
		return nil, errors.New("-d must be positive")
	}
	if o.conns < 1 || o.workers < 1 {
		return nil, errors.New("-conns and -c must be at least 1")
	}
	if len(headers.md) > 0 {
		o.headers = headers.md
	}
	return o, nil
}

// transportCredentials are TLS from -ca/-cert/-key/-server-name, or none.
func (o *options) transportCredentials() (credentials.TransportCredentials, error) {
	if o.caPath == "" {
		return insecure.NewCredentials(), nil
	}
	pem, err := os.ReadFile(o.caPath)
	if err != nil {
		return nil, err
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s: no PEM certificate", o.caPath)
	}
	config := &tls.Config{RootCAs: roots, ServerName: o.serverName, MinVersion: tls.VersionTLS12}
	if o.certPath != "" {
		pair, err := tls.LoadX509KeyPair(o.certPath, o.keyPath)
		if err != nil {
			return nil, err
		}
		config.Certificates = []tls.Certificate{pair}
	}
	return credentials.NewTLS(config), nil
}

// dialAll opens -conns client connections (lazily: the first call connects).
func dialAll(o *options) ([]*grpc.ClientConn, error) {
	creds, err := o.transportCredentials()
	if err != nil {
		return nil, err
	}
	clients := make([]*grpc.ClientConn, o.conns)
	for i := range clients {
		clients[i], err = grpc.NewClient(o.addr,
			grpc.WithTransportCredentials(creds),
			grpc.WithDefaultCallOptions(grpc.ForceCodec(rawCodec{})))
		if err != nil {
			return nil, err
		}
	}
	return clients, nil
}

// caller sends request n (body n mod count) on connection n mod count. The
// headers ride in a context made once, so a call costs the same whether it
// carries any or not.
func caller(o *options, clients []*grpc.ClientConn, bodies [][]byte) func(n int) error {
	base := context.Background()
	if o.headers != nil {
		base = metadata.NewOutgoingContext(base, o.headers)
	}
	return func(n int) error {
		ctx, cancel := context.WithTimeout(base, o.timeout)
		defer cancel()
		var reply []byte
		req := bodies[n%len(bodies)]
		return clients[n%len(clients)].Invoke(ctx, o.method, &req, &reply)
	}
}
