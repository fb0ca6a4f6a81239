package main

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log"
	"os"
	"sync"
	"syscall"
	"time"
)

// certReloader serves the TLS configuration read from PEM files and re-reads
// it when they change: every handshake stats the files (a few syscalls) and
// reloads when a size, mtime or inode differs from what was loaded; SIGHUP
// forces a reload. A reload that fails (a half-written file, a key that does
// not match, a certificate expired or not yet valid, which every client
// would refuse) keeps the previous configuration and is logged once, so
// rotating certificates never drops the server or an open connection: only
// new handshakes see the new files. At start a certificate out of its
// validity is served with a warning (as the Python server does): refusing
// over a clock would take the front down.
type certReloader struct {
	certPath, keyPath, clientCAPath string

	mu     sync.Mutex
	config *tls.Config
	loaded string // stamp of the files behind config
	failed string // stamp of files that last failed to load
}

func newCertReloader(certPath, keyPath, clientCAPath string) (*certReloader, error) {
	r := &certReloader{certPath: certPath, keyPath: keyPath, clientCAPath: clientCAPath}
	stamp, err := r.stamp()
	if err != nil {
		return nil, err
	}
	if err := r.load(stamp, true); err != nil {
		return nil, err
	}
	return r, nil
}

// serverConfig is the tls.Config to build transport credentials from.
func (r *certReloader) serverConfig() *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS12, GetConfigForClient: r.configForClient}
}

// Reload reads the files now, whether or not they look changed (SIGHUP).
func (r *certReloader) Reload() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	stamp, err := r.stamp()
	if err != nil {
		return err
	}
	return r.load(stamp, false)
}

func (r *certReloader) configForClient(*tls.ClientHelloInfo) (*tls.Config, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	stamp, err := r.stamp()
	if err == nil && stamp != r.loaded && stamp != r.failed {
		if err := r.load(stamp, false); err != nil {
			log.Printf("fs-front: error: keeping the previous certificate: %v", err)
		}
	}
	return r.config, nil
}

// load builds the configuration from the files (whose stamp is given); the
// caller holds mu. Out of its validity, the certificate is refused unless
// starting (then logged and served).
func (r *certReloader) load(stamp string, starting bool) error {
	cert, err := tls.LoadX509KeyPair(r.certPath, r.keyPath)
	if err != nil {
		r.failed = stamp
		return fmt.Errorf("TLS certificate %s / key %s: %w", r.certPath, r.keyPath, err)
	}
	if problem := validityProblem(cert.Leaf, time.Now()); problem != "" {
		if !starting {
			r.failed = stamp
			return fmt.Errorf("TLS certificate %s %s", r.certPath, problem)
		}
		log.Printf("fs-front: TLS certificate %s %s", r.certPath, problem)
	}
	config := &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{cert},
		NextProtos:   []string{"h2"},
	}
	if r.clientCAPath != "" {
		pem, err := os.ReadFile(r.clientCAPath)
		pool := x509.NewCertPool()
		if err != nil || !pool.AppendCertsFromPEM(pem) {
			r.failed = stamp
			return fmt.Errorf("TLS client CA %s: no PEM certificate (%v)", r.clientCAPath, err)
		}
		config.ClientCAs = pool
		config.ClientAuth = tls.RequireAndVerifyClientCert
	}
	r.config, r.loaded, r.failed = config, stamp, ""
	return nil
}

// validityProblem says why clients will refuse leaf at now (expired, not
// yet valid), or "" when they will not on that account.
func validityProblem(leaf *x509.Certificate, now time.Time) string {
	switch {
	case leaf == nil:
		return ""
	case now.After(leaf.NotAfter):
		return fmt.Sprintf("expired at %s: clients will refuse it; rotate it", leaf.NotAfter.UTC().Format(time.RFC3339))
	case now.Before(leaf.NotBefore):
		return fmt.Sprintf("is not valid before %s: clients will refuse it until then", leaf.NotBefore.UTC().Format(time.RFC3339))
	}
	return ""
}

// stamp identifies the current version of the files: size, mtime and inode
// of each (a rename over the file, as Kubernetes secrets do, changes the
// inode even when size and mtime match).
func (r *certReloader) stamp() (string, error) {
	stamp := ""
	for _, path := range []string{r.certPath, r.keyPath, r.clientCAPath} {
		if path == "" {
			continue
		}
		info, err := os.Stat(path)
		if err != nil {
			return "", err
		}
		inode := uint64(0)
		if st, ok := info.Sys().(*syscall.Stat_t); ok {
			inode = st.Ino
		}
		stamp += fmt.Sprintf("%d/%d/%d;", info.Size(), info.ModTime().UnixNano(), inode)
	}
	return stamp, nil
}
