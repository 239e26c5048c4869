package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"sync/atomic"
	"syscall"
	"time"
)

// errNotLoopback refuses targets off this machine: the tool opens tens of
// thousands of connections and must never be pointed at someone else.
var errNotLoopback = errors.New("bench targets loopback only")

// checkTarget parses a server URL and refuses anything but http:// on a
// loopback address.
func checkTarget(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("target %q: %w", raw, err)
	}
	if u.Scheme != "http" || u.Host == "" {
		return nil, fmt.Errorf("target %q: want http://127.0.0.1:PORT", raw)
	}
	host := u.Hostname()
	if host == "localhost" {
		u.Host = net.JoinHostPort("127.0.0.1", portOf(u))
		return u, nil
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return nil, fmt.Errorf("target %q: %w", raw, errNotLoopback)
	}
	return u, nil
}

func portOf(u *url.URL) string {
	if p := u.Port(); p != "" {
		return p
	}
	return "80"
}

// dialer spreads outgoing connections over source addresses in
// 127.0.0.0/8, one after the other, so each source address carries few
// connections and tens of thousands of them never exhaust one address's
// ephemeral ports. Processes sharing a run use distinct bases.
type dialer struct {
	base uint32
	next atomic.Uint32
}

// spreadLen is how many distinct source addresses the dialer cycles
// through: 127.1-254.1-254.1-254.
const spreadLen = 254 * 254 * 254

func sourceIP(i uint32) net.IP {
	i %= spreadLen
	return net.IPv4(127, byte(1+i/(254*254)), byte(1+i/254%254), byte(1+i%254))
}

// DialContext dials addr from the next source address. An IPv6 target
// (::1 has no neighbours) is dialed plainly.
func (d *dialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	nd := net.Dialer{Timeout: 10 * time.Second, KeepAlive: -1}
	host, _, err := net.SplitHostPort(addr)
	if err == nil {
		if ip := net.ParseIP(host); ip != nil && ip.To4() != nil {
			nd.LocalAddr = &net.TCPAddr{IP: sourceIP(d.base + d.next.Add(1))}
			network = "tcp4"
		}
	}
	c, err := nd.DialContext(ctx, network, addr)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", addr, err)
	}
	return c, nil
}

// httpClient returns a keep-alive client holding up to conns connections,
// dialed through d.
func httpClient(d *dialer, conns int) *http.Client {
	return &http.Client{Transport: &http.Transport{
		DialContext:         d.DialContext,
		MaxIdleConns:        conns,
		MaxIdleConnsPerHost: conns,
		MaxConnsPerHost:     conns,
		IdleConnTimeout:     time.Minute,
		DisableCompression:  true,
		ForceAttemptHTTP2:   false,
	}}
}

// raiseNoFile lifts the soft open-file limit to the hard one and returns
// the limit now in force. (Go raises it at start already; this reports
// it and covers embedders that lowered it.)
func raiseNoFile() (uint64, error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, fmt.Errorf("get open-file limit: %w", err)
	}
	if lim.Cur >= lim.Max {
		return lim.Cur, nil
	}
	want := syscall.Rlimit{Cur: lim.Max, Max: lim.Max}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want); err != nil {
		return lim.Cur, fmt.Errorf("raise open-file limit to %d: %w", lim.Max, err)
	}
	return want.Cur, nil
}
