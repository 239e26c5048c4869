package e2e

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sselog/sselog/eventlog"
)

// stallPublish opens a publish whose body never finishes arriving, so
// the server has a request in flight that shutdown must wait for.
func stallPublish(t *testing.T, addr string) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	// Expect: 100-continue makes the server answer "100 Continue" when the
	// handler first reads the body: proof that the request is in flight
	// (accepted and being read), where a fixed sleep only hoped so. A
	// SIGTERM before the accept finds nothing in flight.
	_, err = conn.Write([]byte("POST /v1/broadcast HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100\r\nExpect: 100-continue\r\n\r\n{\"data\":"))
	require.NoError(t, err)
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(wait)))
	line, err := bufio.NewReader(conn).ReadString('\n')
	require.NoError(t, err, "no 100 Continue: the handler never read the body")
	require.True(t, strings.HasPrefix(line, "HTTP/1.1 100 "), "got %q", line)
	require.NoError(t, conn.SetReadDeadline(time.Time{}))
	return conn
}

// TestE2ESecondSignal: while shutdown waits on an in-flight request, a
// second SIGTERM ends the process at once.
func TestE2ESecondSignal(t *testing.T) {
	s := startServer(t, filepath.Join(t.TempDir(), "sselog.db"), "--shutdown-timeout", "1m")
	stallPublish(t, s.Addr)
	require.NoError(t, s.cmd.Process.Signal(syscall.SIGTERM))
	select {
	case <-s.Exited():
		t.Fatalf("exited while a request was in flight: %v\n%s", s.err, s.Logs())
	case <-time.After(500 * time.Millisecond):
	}
	require.NoError(t, s.cmd.Process.Signal(syscall.SIGTERM))
	select {
	case <-s.Exited():
	case <-time.After(wait):
		t.Fatal("a second SIGTERM did not end the process")
	}
	var exit *exec.ExitError
	require.ErrorAs(t, s.err, &exit)
	ws, ok := exit.Sys().(syscall.WaitStatus)
	require.True(t, ok)
	assert.True(t, ws.Signaled(), "ended by the signal itself: %v", s.err)
}

// TestE2EShutdownTimeout: past --shutdown-timeout the remaining requests
// are cut, the log is still closed cleanly, and the exit status says so.
func TestE2EShutdownTimeout(t *testing.T) {
	data := filepath.Join(t.TempDir(), "sselog.db")
	s := startServer(t, data, "--shutdown-timeout", "300ms")
	c := s.HTTP
	resp, err := c.Post(s.URL+"/v1/users/alice/events", "application/json", strings.NewReader(`{"data":1}`))
	require.NoError(t, err)
	_ = resp.Body.Close()
	require.Equal(t, http.StatusCreated, resp.StatusCode)
	stallPublish(t, s.Addr)
	require.NoError(t, s.cmd.Process.Signal(syscall.SIGTERM))
	select {
	case <-s.Exited():
	case <-time.After(wait):
		t.Fatal("no exit after the shutdown timeout")
	}
	var exit *exec.ExitError
	require.ErrorAs(t, s.err, &exit)
	assert.Equal(t, 1, exit.ExitCode())
	assert.Contains(t, s.Logs(), "requests still running after 300ms")

	lg, err := eventlog.Open(data, eventlog.Options{})
	require.NoError(t, err)
	defer lg.Close()
	p, err := lg.ReadAfter("alice", eventlog.ZeroID, 10)
	require.NoError(t, err)
	assert.Len(t, p.Events, 1, "the acknowledged event survived")
}

// TestE2ERefusesOpenModeOffLoopback: the binary will not serve without
// keys on a non-loopback address, and says why.
func TestE2ERefusesOpenModeOffLoopback(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	data := filepath.Join(t.TempDir(), "x.db")
	cmd := exec.CommandContext(ctx, sselogBinary(t), "--addr", "0.0.0.0:0", "--data", data)
	cmd.Env = cleanEnv()
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	require.ErrorAs(t, err, &exit)
	assert.Equal(t, 1, exit.ExitCode())
	assert.Contains(t, string(out), "refusing to listen on 0.0.0.0:0 without keys")
	_, err = os.Stat(data)
	assert.True(t, errors.Is(err, os.ErrNotExist), "refused before touching the data file")
}

// TestE2ETLS: with --tls-cert/--tls-key the server speaks HTTPS and
// HTTP/2, so browsers are not held to six streams per origin.
func TestE2ETLS(t *testing.T) {
	cert, key := selfSigned(t)
	s := startServer(t, filepath.Join(t.TempDir(), "sselog.db"), "--tls-cert", cert, "--tls-key", key)
	resp, err := s.HTTP.Post(s.URL+"/v1/users/alice/events", "application/json", strings.NewReader(`{"data":"over h2"}`))
	require.NoError(t, err)
	defer resp.Body.Close()
	assert.Equal(t, http.StatusCreated, resp.StatusCode)
	assert.Equal(t, 2, resp.ProtoMajor, "HTTP/2 over TLS")

	req, err := http.NewRequest(http.MethodGet, s.URL+"/v1/users/alice/stream", nil)
	require.NoError(t, err)
	req.Header.Set("Last-Event-ID", eventlog.ZeroID.String())
	sresp, err := s.HTTP.Do(req)
	require.NoError(t, err)
	assert.Equal(t, 2, sresp.ProtoMajor)
	assert.Equal(t, "text/event-stream", strings.Split(sresp.Header.Get("Content-Type"), ";")[0])
	_ = sresp.Body.Close()

	var health map[string]any
	hresp, err := s.HTTP.Get(s.URL + "/healthz")
	require.NoError(t, err)
	require.NoError(t, json.NewDecoder(hresp.Body).Decode(&health))
	_ = hresp.Body.Close()
	assert.Equal(t, "ok", health["status"])
	s.Stop()
}

// selfSigned writes a throwaway certificate for 127.0.0.1 and returns the
// paths of its PEM files.
func selfSigned(t *testing.T) (certFile, keyFile string) {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "sselog test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:     []string{"localhost"},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
	require.NoError(t, err)
	keyDER, err := x509.MarshalPKCS8PrivateKey(priv)
	require.NoError(t, err)
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	require.NoError(t, os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	require.NoError(t, os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600))
	return certFile, keyFile
}
