package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"log"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	template := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "test-ca"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, template, template, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &testCA{cert, key, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

var serials int64 = 100

// issue returns a PEM certificate and key signed by the CA: a server
// certificate for 127.0.0.1, or a client certificate.
func (ca *testCA) issue(t *testing.T, name string, server bool) (certPEM, keyPEM []byte) {
	t.Helper()
	return ca.issueUntil(t, name, server, time.Now().Add(time.Hour))
}

// issueUntil is issue with the certificate valid from a day before notAfter.
func (ca *testCA) issueUntil(t *testing.T, name string, server bool, notAfter time.Time) (certPEM, keyPEM []byte) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	serials++
	template := &x509.Certificate{
		SerialNumber: big.NewInt(serials),
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    notAfter.Add(-24 * time.Hour),
		NotAfter:     notAfter,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if server {
		template.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		template.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
	}
	der, err := x509.CreateCertificate(rand.Reader, template, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(key)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
}

func write(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// servedCert is the certificate a fresh TLS handshake with addr presents.
func servedCert(t *testing.T, addr string, ca *testCA, client *tls.Certificate) ([]byte, error) {
	t.Helper()
	roots := x509.NewCertPool()
	roots.AddCert(ca.cert)
	config := &tls.Config{RootCAs: roots, NextProtos: []string{"h2"}}
	if client != nil {
		config.Certificates = []tls.Certificate{*client}
	}
	conn, err := tls.Dial("tcp", addr, config)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	// With TLS 1.3 a refused client certificate surfaces on the first read.
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := conn.Write([]byte(http2Preface)); err != nil {
		return nil, err
	}
	if _, err := conn.Read(make([]byte, 1)); err != nil {
		return nil, err
	}
	return conn.ConnectionState().PeerCertificates[0].Raw, nil
}

const http2Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

func derOf(t *testing.T, certPEM []byte) []byte {
	t.Helper()
	block, _ := pem.Decode(certPEM)
	return block.Bytes
}

func tlsFront(t *testing.T, ca *testCA, clientCA bool) (addr string, dir string, backend *fakeBackend, front *frontUnderTest) {
	t.Helper()
	dir = t.TempDir()
	certPEM, keyPEM := ca.issue(t, "server-1", true)
	write(t, filepath.Join(dir, "cert.pem"), certPEM)
	write(t, filepath.Join(dir, "key.pem"), keyPEM)
	caPath := ""
	if clientCA {
		caPath = filepath.Join(dir, "ca.pem")
		write(t, caPath, ca.pem)
	}
	certs, err := newCertReloader(filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem"), caPath)
	if err != nil {
		t.Fatal(err)
	}
	backend = startBackend(t, "a")
	front = startFront(t, []*fakeBackend{backend}, defaultLimits, credentials.NewTLS(certs.serverConfig()))
	return front.addr, dir, backend, front
}

func TestCertificateReloadKeepsOpenConnections(t *testing.T) {
	ca := newTestCA(t)
	addr, dir, backend, front := tlsFront(t, ca, false)
	first, _ := os.ReadFile(filepath.Join(dir, "cert.pem"))
	if got, err := servedCert(t, addr, ca, nil); err != nil || !bytes.Equal(got, derOf(t, first)) {
		t.Fatalf("first certificate: %v", err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca.cert)
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(
		credentials.NewTLS(&tls.Config{RootCAs: roots})))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	watch, err := healthpb.NewHealthClient(conn).Watch(context.Background(), &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if reply, err := watch.Recv(); err != nil || reply.Status != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("watch: %v, %v", reply, err)
	}

	// Rotate: key first, then the certificate. A handshake in between
	// (mismatched pair) keeps the old certificate; once both are written,
	// new handshakes get the new one.
	certPEM, keyPEM := ca.issue(t, "server-2", true)
	write(t, filepath.Join(dir, "key.pem"), keyPEM)
	if got, err := servedCert(t, addr, ca, nil); err != nil || !bytes.Equal(got, derOf(t, first)) {
		t.Fatalf("half-rotated files must keep the old certificate: %v", err)
	}
	write(t, filepath.Join(dir, "cert.pem"), certPEM)
	if got, err := servedCert(t, addr, ca, nil); err != nil || !bytes.Equal(got, derOf(t, certPEM)) {
		t.Fatalf("after rotation the new certificate is served: %v", err)
	}
	// The stream opened before the rotation still lives on its connection.
	backend.health.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
	front.backends.pollOnce(context.Background())
	if reply, err := watch.Recv(); err != nil || reply.Status != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Fatalf("old stream after rotation: %v, %v", reply, err)
	}
}

func TestReloadForcedReadsFilesAndRefusesBrokenOnes(t *testing.T) {
	ca := newTestCA(t)
	dir := t.TempDir()
	certPath, keyPath := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	certPEM, keyPEM := ca.issue(t, "one", true)
	write(t, certPath, certPEM)
	write(t, keyPath, keyPEM)
	certs, err := newCertReloader(certPath, keyPath, "")
	if err != nil {
		t.Fatal(err)
	}
	write(t, certPath, []byte("not a certificate"))
	if err := certs.Reload(); err == nil {
		t.Fatal("a broken file was accepted")
	}
	config, _ := certs.configForClient(nil)
	if !bytes.Equal(config.Certificates[0].Certificate[0], derOf(t, certPEM)) {
		t.Fatal("a failed reload dropped the served certificate")
	}
	newCert, newKey := ca.issue(t, "two", true)
	write(t, certPath, newCert)
	write(t, keyPath, newKey)
	if err := certs.Reload(); err != nil {
		t.Fatal(err)
	}
	config, _ = certs.configForClient(nil)
	if !bytes.Equal(config.Certificates[0].Certificate[0], derOf(t, newCert)) {
		t.Fatal("Reload did not take the new files")
	}
	if _, err := newCertReloader(certPath, filepath.Join(dir, "missing.pem"), ""); err == nil {
		t.Fatal("a missing key was accepted at start")
	}
}

func TestMutualTLSRequiresAClientCertificateFromTheCA(t *testing.T) {
	ca := newTestCA(t)
	addr, _, _, _ := tlsFront(t, ca, true)
	if _, err := servedCert(t, addr, ca, nil); err == nil {
		t.Fatal("a client without a certificate was served")
	}
	stranger := newTestCA(t)
	strangerPEM, strangerKey := stranger.issue(t, "intruder", false)
	bad, _ := tls.X509KeyPair(strangerPEM, strangerKey)
	if _, err := servedCert(t, addr, ca, &bad); err == nil {
		t.Fatal("a client certificate from another CA was accepted")
	}
	clientPEM, clientKey := ca.issue(t, "client", false)
	good, _ := tls.X509KeyPair(clientPEM, clientKey)
	if _, err := servedCert(t, addr, ca, &good); err != nil {
		t.Fatalf("a client certificate from the CA: %v", err)
	}
}

// An expired certificate is served (refusing over a clock would take the
// front down) but the log names it; it used to load without a word.
func TestAnExpiredCertificateIsNamedInTheLog(t *testing.T) {
	ca := newTestCA(t)
	dir := t.TempDir()
	certPath, keyPath := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	var logged bytes.Buffer
	log.SetOutput(&logged)
	defer log.SetOutput(os.Stderr)
	for _, tc := range []struct {
		notAfter time.Time
		said     string
	}{
		{time.Now().Add(-48 * time.Hour), "expired at"},
		{time.Now().Add(12 * time.Hour), ""},
		{time.Now().Add(36 * time.Hour), "is not valid before"},
	} {
		logged.Reset()
		certPEM, keyPEM := ca.issueUntil(t, "srv", true, tc.notAfter)
		write(t, certPath, certPEM)
		write(t, keyPath, keyPEM)
		if _, err := newCertReloader(certPath, keyPath, ""); err != nil {
			t.Fatal(err)
		}
		got := logged.String()
		if tc.said == "" && got != "" || tc.said != "" && !strings.Contains(got, certPath+" "+tc.said) {
			t.Fatalf("valid until %v: logged %q", tc.notAfter, got)
		}
	}
}

// A rotation to a certificate clients would refuse (expired, not yet valid)
// keeps the current one, on a handshake and on SIGHUP, and logs why; it used
// to replace a valid certificate with only a warning, and every new
// connection failed from then on.
func TestARotationOutOfValidityKeepsTheCurrentCertificate(t *testing.T) {
	for _, tc := range []struct {
		notAfter time.Time
		said     string
	}{
		{time.Now().Add(-48 * time.Hour), "expired at"},
		{time.Now().Add(36 * time.Hour), "is not valid before"},
	} {
		ca := newTestCA(t)
		addr, dir, _, _ := tlsFront(t, ca, false)
		certPath, keyPath := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
		current, _ := os.ReadFile(certPath)
		var logged bytes.Buffer
		log.SetOutput(&logged)
		certPEM, keyPEM := ca.issueUntil(t, "bad", true, tc.notAfter)
		write(t, keyPath, keyPEM)
		write(t, certPath, certPEM)
		got, err := servedCert(t, addr, ca, nil)
		log.SetOutput(os.Stderr)
		if err != nil || !bytes.Equal(got, derOf(t, current)) {
			t.Fatalf("%s: the current certificate must stay: %v", tc.said, err)
		}
		if !strings.Contains(logged.String(), "keeping the previous certificate: TLS certificate "+certPath+" "+tc.said) {
			t.Fatalf("%s: logged %q", tc.said, logged.String())
		}
		certs, err := newCertReloader(certPath, keyPath, "") // served at start
		if err != nil {
			t.Fatal(err)
		}
		if err := certs.Reload(); err == nil || !strings.Contains(err.Error(), tc.said) {
			t.Fatalf("%s: SIGHUP took it: %v", tc.said, err)
		}
	}
}
