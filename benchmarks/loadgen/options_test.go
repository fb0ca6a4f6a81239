package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
)

func TestParseHeaderSplitsAtTheFirstColonAndLowercasesTheKey(t *testing.T) {
	cases := map[string][2]string{
		"authorization: Bearer fsk_a_b": {"authorization", "Bearer fsk_a_b"},
		"X-Request-Id:abc":              {"x-request-id", "abc"},
		"  k :  a: b  ":                 {"k", "a: b"},
		"empty:":                        {"empty", ""},
	}
	for in, want := range cases {
		key, val, err := parseHeader(in)
		if err != nil || key != want[0] || val != want[1] {
			t.Errorf("parseHeader(%q) = %q, %q, %v; want %q, %q", in, key, val, err, want[0], want[1])
		}
	}
}

func TestParseHeaderRejectsWhatGRPCWouldNotSend(t *testing.T) {
	for _, in := range []string{"no colon", ": value", "two words: v", "grpc-timeout: 1S", "caf\u00e9: v"} {
		if _, _, err := parseHeader(in); err == nil {
			t.Errorf("parseHeader(%q) accepted", in)
		}
	}
}

func TestParseFlagsCollectsRepeatedHeaders(t *testing.T) {
	o, err := parseFlags([]string{"-H", "authorization: Bearer k", "-H", "x-a: 1", "-H", "X-A: 2"})
	if err != nil {
		t.Fatal(err)
	}
	if got := o.headers.Get("authorization"); len(got) != 1 || got[0] != "Bearer k" {
		t.Errorf("authorization = %q", got)
	}
	if got := o.headers.Get("x-a"); len(got) != 2 || got[0] != "1" || got[1] != "2" {
		t.Errorf("x-a = %q, want [1 2]", got)
	}
	plain, err := parseFlags(nil)
	if err != nil || plain.headers != nil || plain.caPath != "" {
		t.Errorf("no flags: headers %v, ca %q, err %v; want none", plain.headers, plain.caPath, err)
	}
}

func TestParseFlagsRejectsWhatCannotRun(t *testing.T) {
	cases := map[string][]string{
		"cert without key":       {"-ca", "ca.pem", "-cert", "c.pem"},
		"key without cert":       {"-ca", "ca.pem", "-key", "k.pem"},
		"client cert without ca": {"-cert", "c.pem", "-key", "k.pem"},
		"server name without ca": {"-server-name", "fs.test"},
		"a bad header":           {"-H", "nocolon"},
		"a stray argument":       {"extra"},
		"no connections":         {"-conns", "0"},
		"a negative rate":        {"-rate", "-1"},
		"a rate past 1e6/s":      {"-rate", "1000001"},
		"no duration":            {"-d", "0s"},
	}
	for name, args := range cases {
		if _, err := parseFlags(args); err == nil {
			t.Errorf("%s: %q accepted", name, args)
		}
	}
}

// pki writes a CA, a server certificate for the DNS name "fs.test" only (so
// dialling 127.0.0.1 needs -server-name) and a client certificate.
type pki struct{ ca, serverCert, serverKey, clientCert, clientKey string }

func newPKI(t *testing.T) pki {
	t.Helper()
	dir := t.TempDir()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTemplate := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "loadgen-test-ca"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTemplate, caTemplate, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	issue := func(name string, serial int64, usage x509.ExtKeyUsage, dns []string) (string, string) {
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		template := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			ExtKeyUsage: []x509.ExtKeyUsage{usage}, DNSNames: dns,
		}
		der, err := x509.CreateCertificate(rand.Reader, template, caCert, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		keyDER, _ := x509.MarshalPKCS8PrivateKey(key)
		return writePEM(t, dir, name+".pem", "CERTIFICATE", der), writePEM(t, dir, name+"-key.pem", "PRIVATE KEY", keyDER)
	}
	p := pki{ca: writePEM(t, dir, "ca.pem", "CERTIFICATE", caDER)}
	p.serverCert, p.serverKey = issue("server", 2, x509.ExtKeyUsageServerAuth, []string{"fs.test"})
	p.clientCert, p.clientKey = issue("client", 3, x509.ExtKeyUsageClientAuth, nil)
	return p
}

func writePEM(t *testing.T, dir, name, kind string, der []byte) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// echoServer answers every method with the request bytes and keeps the
// metadata of the last call; mTLS when clientCA is set.
type echoServer struct {
	addr string
	mu   sync.Mutex
	last metadata.MD
}

func startEcho(t *testing.T, p pki, clientCA string) *echoServer {
	t.Helper()
	pair, err := tls.LoadX509KeyPair(p.serverCert, p.serverKey)
	if err != nil {
		t.Fatal(err)
	}
	config := &tls.Config{Certificates: []tls.Certificate{pair}}
	if clientCA != "" {
		pool := x509.NewCertPool()
		data, _ := os.ReadFile(clientCA)
		pool.AppendCertsFromPEM(data)
		config.ClientCAs, config.ClientAuth = pool, tls.RequireAndVerifyClientCert
	}
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	echo := &echoServer{addr: listener.Addr().String()}
	server := grpc.NewServer(grpc.Creds(credentials.NewTLS(config)), grpc.ForceServerCodec(rawCodec{}),
		grpc.UnknownServiceHandler(func(_ any, stream grpc.ServerStream) error {
			md, _ := metadata.FromIncomingContext(stream.Context())
			echo.mu.Lock()
			echo.last = md
			echo.mu.Unlock()
			var body []byte
			if err := stream.RecvMsg(&body); err != nil {
				return err
			}
			return stream.SendMsg(&body)
		}))
	go func() { _ = server.Serve(listener) }()
	t.Cleanup(server.Stop)
	return echo
}

// callOnce dials as main does with these flags and sends one request.
func callOnce(t *testing.T, args ...string) error {
	t.Helper()
	o, err := parseFlags(append(args, "-timeout", "5s"))
	if err != nil {
		t.Fatal(err)
	}
	clients, err := dialAll(o)
	if err != nil {
		return err
	}
	defer func() {
		for _, c := range clients {
			_ = c.Close()
		}
	}()
	return caller(o, clients, [][]byte{[]byte("request")})(0)
}

func TestTLSWithHeadersReachesTheServer(t *testing.T) {
	p := newPKI(t)
	echo := startEcho(t, p, "")
	err := callOnce(t, "-addr", echo.addr, "-ca", p.ca, "-server-name", "fs.test",
		"-H", "authorization: Bearer fsk_id_secret", "-H", "x-request-id: r1")
	if err != nil {
		t.Fatal(err)
	}
	echo.mu.Lock()
	defer echo.mu.Unlock()
	if got := echo.last.Get("authorization"); len(got) != 1 || got[0] != "Bearer fsk_id_secret" {
		t.Errorf("server saw authorization %q", got)
	}
	if got := echo.last.Get("x-request-id"); len(got) != 1 || got[0] != "r1" {
		t.Errorf("server saw x-request-id %q", got)
	}
}

func TestTLSChecksTheServerName(t *testing.T) {
	p := newPKI(t)
	echo := startEcho(t, p, "")
	// The certificate names fs.test, not 127.0.0.1.
	err := callOnce(t, "-addr", echo.addr, "-ca", p.ca)
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("a certificate for another name: got %v, want a certificate error", err)
	}
	// A CA that did not sign the server's certificate is refused too.
	other := newPKI(t)
	err = callOnce(t, "-addr", echo.addr, "-ca", other.ca, "-server-name", "fs.test")
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("an unknown CA: got %v, want a certificate error", err)
	}
}

func TestMutualTLSSendsTheClientCertificate(t *testing.T) {
	p := newPKI(t)
	echo := startEcho(t, p, p.ca)
	if err := callOnce(t, "-addr", echo.addr, "-ca", p.ca, "-server-name", "fs.test"); err == nil {
		t.Error("no client certificate: the mTLS server answered")
	}
	err := callOnce(t, "-addr", echo.addr, "-ca", p.ca, "-server-name", "fs.test",
		"-cert", p.clientCert, "-key", p.clientKey)
	if err != nil {
		t.Fatalf("with the client certificate: %v", err)
	}
}

func TestPlaintextSendsHeadersToo(t *testing.T) {
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	seen := make(chan metadata.MD, 1)
	server := grpc.NewServer(grpc.ForceServerCodec(rawCodec{}),
		grpc.UnknownServiceHandler(func(_ any, stream grpc.ServerStream) error {
			md, _ := metadata.FromIncomingContext(stream.Context())
			seen <- md
			var body []byte
			if err := stream.RecvMsg(&body); err != nil {
				return err
			}
			return stream.SendMsg(&body)
		}))
	go func() { _ = server.Serve(listener) }()
	defer server.Stop()
	if err := callOnce(t, "-addr", listener.Addr().String(), "-H", "authorization: Bearer k"); err != nil {
		t.Fatal(err)
	}
	if got := (<-seen).Get("authorization"); len(got) != 1 || got[0] != "Bearer k" {
		t.Errorf("server saw authorization %q", got)
	}
}
