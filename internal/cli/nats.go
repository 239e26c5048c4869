package cli

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/sselog/sselog/api"
	"github.com/sselog/sselog/eventlog"
	"github.com/sselog/sselog/jetlog"
)

// natsConfig selects cluster mode: the log kept in a NATS JetStream
// stream, on external servers (--nats) or on a nats-server embedded in
// this process (--cluster-*).
type natsConfig struct {
	URLs                   string
	Stream                 string
	Replicas               int
	Creds                  string
	TLSCA, TLSCert, TLSKey string
	ClusterName            string
	ClusterListen          string
	ClusterPeers           string
	ClusterData            string
	StartTimeout           time.Duration
}

func (n *natsConfig) register(f *envFlags) {
	f.String(&n.URLs, "nats", "SSELOG_NATS", "", "cluster mode: NATS server URLs, comma-separated; the log is kept in a JetStream stream instead of --data")
	f.String(&n.Stream, "nats-stream", "SSELOG_NATS_STREAM", "SSELOG", "cluster mode: JetStream stream name (subjects <name>.>)")
	f.Int(&n.Replicas, "nats-replicas", "SSELOG_NATS_REPLICAS", 1, "cluster mode: stream replicas (3 for production)")
	f.String(&n.Creds, "nats-creds", "SSELOG_NATS_CREDS", "", "cluster mode: NATS credentials file (JWT and seed)")
	f.String(&n.TLSCA, "nats-tls-ca", "SSELOG_NATS_TLS_CA", "", "cluster mode: CA file (PEM) to verify the NATS servers")
	f.String(&n.TLSCert, "nats-tls-cert", "SSELOG_NATS_TLS_CERT", "", "cluster mode: client certificate (PEM) for NATS, with --nats-tls-key")
	f.String(&n.TLSKey, "nats-tls-key", "SSELOG_NATS_TLS_KEY", "", "cluster mode: client key (PEM) for NATS")
	f.String(&n.ClusterName, "cluster-name", "SSELOG_CLUSTER_NAME", "", "embedded cluster mode: run a nats-server with JetStream in this process, in the cluster of this name")
	f.String(&n.ClusterListen, "cluster-listen", "SSELOG_CLUSTER_LISTEN", "", "embedded cluster mode: host:port this node's NATS cluster routes listen on")
	f.String(&n.ClusterPeers, "cluster-peers", "SSELOG_CLUSTER_PEERS", "", "embedded cluster mode: the other nodes' --cluster-listen addresses, comma-separated")
	f.String(&n.ClusterData, "cluster-data", "SSELOG_CLUSTER_DATA", "", "embedded cluster mode: JetStream store directory (default: jetstream/ beside --data)")
	f.Duration(&n.StartTimeout, "nats-start-timeout", "SSELOG_NATS_START_TIMEOUT", 2*time.Minute, "cluster mode: how long to wait at start for JetStream to answer")
}

func (n natsConfig) enabled() bool  { return n.URLs != "" || n.embedded() }
func (n natsConfig) embedded() bool { return n.ClusterName != "" }

func (n natsConfig) validate() []error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if !n.embedded() && (n.ClusterListen != "" || n.ClusterPeers != "" || n.ClusterData != "") {
		bad("--cluster-listen, --cluster-peers and --cluster-data need --cluster-name")
	}
	if !n.enabled() {
		return errs
	}
	if n.URLs != "" && n.embedded() {
		bad("--nats and --cluster-name exclude each other: use external NATS servers, or embed one in each node")
	}
	if n.Replicas < 1 || n.Replicas > 5 {
		bad("--nats-replicas %d: want 1 to 5 (JetStream's limit)", n.Replicas)
	}
	if n.Stream == "" || strings.ContainsAny(n.Stream, ".*> \t") {
		bad("--nats-stream %q: want a name without '.', '*', '>' or spaces", n.Stream)
	}
	if (n.TLSCert == "") != (n.TLSKey == "") {
		bad("--nats-tls-cert and --nats-tls-key come together")
	}
	if n.StartTimeout <= 0 {
		bad("--nats-start-timeout %s must be positive", n.StartTimeout)
	}
	if n.embedded() {
		if _, port, err := net.SplitHostPort(n.ClusterListen); err != nil {
			bad("--cluster-listen %q: want host:port: %v", n.ClusterListen, err)
		} else if port == "0" {
			// The peers could not reach it, and the node's JetStream name
			// (derived from it) would be another at each start.
			bad("--cluster-listen %q: want a fixed port, the one the other nodes list in --cluster-peers", n.ClusterListen)
		}
		peers := 0
		for p := range strings.SplitSeq(n.ClusterPeers, ",") {
			if p = strings.TrimSpace(p); p == "" {
				continue
			}
			peers++
			if _, _, err := net.SplitHostPort(p); err != nil {
				bad("--cluster-peers: %q: want host:port: %v", p, err)
			}
		}
		switch {
		case peers == 0:
			// JetStream's cluster mode does not start without routes.
			bad("--cluster-peers is empty: an embedded cluster needs the other nodes' --cluster-listen addresses (for one node, leave out --cluster-* and use --data)")
		case n.Replicas > peers+1:
			bad("--nats-replicas %d: the cluster has %d nodes (this one and %d in --cluster-peers); JetStream could never place the stream", n.Replicas, peers+1, peers)
		}
	}
	return errs
}

func (n natsConfig) logAttrs() []any {
	switch {
	case n.embedded():
		return []any{"store", "jetstream", "cluster", n.ClusterName, "cluster_listen", n.ClusterListen,
			"cluster_peers", n.ClusterPeers, "nats_stream", n.Stream, "nats_replicas", n.Replicas}
	case n.enabled():
		return []any{"store", "jetstream", "nats", n.URLs, "nats_stream", n.Stream, "nats_replicas", n.Replicas,
			"nats_creds", n.Creds != "", "nats_tls", n.TLSCA != "" || n.TLSCert != ""}
	}
	return []any{"store", "bbolt"}
}

// store is the log the server runs on, whichever it is.
type store interface {
	api.Store
	Close() error
}

// openStore opens the bbolt log, or in cluster mode the JetStream log
// (starting the embedded nats-server first if asked).
func openStore(ctx context.Context, cfg serveConfig, logger *slog.Logger) (store, error) {
	if !cfg.NATS.enabled() {
		return eventlog.Open(cfg.Data, eventlog.Options{
			MaxAge:             cfg.Retention,
			MaxEvents:          cfg.MaxEvents,
			BroadcastMaxAge:    cfg.Retention,
			BroadcastMaxEvents: cfg.MaxEvents,
			CompactInterval:    cfg.CompactInterval,
			TailBytes:          int(cfg.TailBytes),
			PageBytes:          int(cfg.PageBytes),
			MaxClockJump:       cfg.MaxClockJump,
			Logger:             logger,
		})
	}
	n := cfg.NATS
	var ns *embedded
	opts := []nats.Option{nats.Name("sselog"), nats.MaxReconnects(-1), nats.ReconnectWait(250 * time.Millisecond)}
	url := n.URLs
	if n.embedded() {
		token := rand.Text() // the loopback client port takes only this process
		var err error
		if ns, err = startEmbedded(ctx, n, cfg.Data, token, logger); err != nil {
			return nil, err
		}
		opts = append(opts, nats.InProcessServer(ns.Server), nats.Token(token))
		url = ""
	}
	if n.Creds != "" {
		opts = append(opts, nats.UserCredentials(n.Creds))
	}
	if n.TLSCA != "" {
		opts = append(opts, nats.RootCAs(n.TLSCA))
	}
	if n.TLSCert != "" {
		opts = append(opts, nats.ClientCert(n.TLSCert, n.TLSKey))
	}
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		stopEmbedded(ns)
		return nil, fmt.Errorf("connect to NATS %s: %w", n.URLs, err)
	}
	l, err := openJetlog(ctx, nc, jetlog.Options{
		Stream:    n.Stream,
		Replicas:  n.Replicas,
		MaxAge:    cfg.Retention,
		MaxEvents: cfg.MaxEvents,
		PageBytes: int(cfg.PageBytes),
		Logger:    logger,
	}, n.StartTimeout, logger)
	if err != nil {
		nc.Close()
		stopEmbedded(ns)
		return nil, err
	}
	return &natsStore{Log: l, nc: nc, ns: ns}, nil
}

// openJetlog retries while JetStream is not ready yet (a cluster still
// electing its leader as its nodes start together).
func openJetlog(ctx context.Context, nc *nats.Conn, o jetlog.Options, timeout time.Duration, logger *slog.Logger) (*jetlog.Log, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var lastLog time.Time
	for {
		octx, ocancel := context.WithTimeout(ctx, 10*time.Second)
		l, err := jetlog.Open(octx, nc, o)
		ocancel()
		if err == nil {
			return l, nil
		}
		if time.Since(lastLog) > 5*time.Second {
			logger.Warn("waiting for JetStream", "stream", o.Stream, "err", err)
			lastLog = time.Now()
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("open JetStream stream %s within %s: %w", o.Stream, timeout, err)
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// embedded is the nats-server run in this process, with the lock on its
// store directory.
type embedded struct {
	*server.Server
	lock *os.File // nil where there is no flock; Close on nil is a no-op error
}

// fatalLogger keeps nats-server's first fatal error (a listener that
// failed, JetStream that cannot start), which the server, logging
// nowhere, would otherwise swallow while it never becomes ready.
type fatalLogger struct {
	once  sync.Once
	fatal chan string
}

func (l *fatalLogger) Fatalf(format string, v ...any) {
	l.once.Do(func() { l.fatal <- fmt.Sprintf(format, v...) })
}
func (*fatalLogger) Noticef(string, ...any) {}
func (*fatalLogger) Warnf(string, ...any)   {}
func (*fatalLogger) Errorf(string, ...any)  {}
func (*fatalLogger) Debugf(string, ...any)  {}
func (*fatalLogger) Tracef(string, ...any)  {}

// startEmbedded runs a nats-server with JetStream in this process: a
// loopback client port only, closed to all but token (sselog connects
// in-process), cluster routes on
// --cluster-listen to --cluster-peers, its store beside --data.
func startEmbedded(ctx context.Context, n natsConfig, data, token string, logger *slog.Logger) (*embedded, error) {
	host, port, _ := net.SplitHostPort(n.ClusterListen)
	p, err := net.LookupPort("tcp", port)
	if err != nil {
		return nil, fmt.Errorf("--cluster-listen %q: %w", n.ClusterListen, err)
	}
	dir := n.ClusterData
	if dir == "" {
		dir = filepath.Join(filepath.Dir(data), "jetstream")
	}
	lock, err := lockStoreDir(dir)
	if err != nil {
		return nil, err
	}
	unlock := func() { _ = lock.Close() }
	var routes []string
	for peer := range strings.SplitSeq(n.ClusterPeers, ",") {
		if peer = strings.TrimSpace(peer); peer != "" {
			routes = append(routes, "nats://"+peer)
		}
	}
	o := &server.Options{
		// A JetStream peer is known by its server name: it must stay the
		// same across restarts, so it is derived from the route address.
		ServerName: "sselog-" + strings.NewReplacer(":", "-", "[", "", "]", "").Replace(n.ClusterListen),
		// sselog connects in-process; the client port exists because
		// nats-server starts its routes only once a client listener is
		// up: loopback, on a free port.
		Host:      "127.0.0.1",
		Port:      -1,
		JetStream: true,
		StoreDir:  dir,
		// One replica has no other copy: sync every write, as bbolt
		// does. Replicated streams rely on their quorum (JetStream's
		// default).
		SyncAlways: n.Replicas == 1,
		NoSigs:     true,
		NoLog:      true,
		Cluster:    server.ClusterOpts{Name: n.ClusterName, Host: host, Port: p},
	}
	if len(routes) > 0 {
		o.Routes = server.RoutesFromStr(strings.Join(routes, ","))
	}
	ns, err := server.NewServer(o)
	if err != nil {
		unlock()
		return nil, fmt.Errorf("embedded nats-server: %w", err)
	}
	fl := &fatalLogger{fatal: make(chan string, 1)}
	ns.SetLoggerV2(fl, false, false, false)
	go ns.Start()
	ready := make(chan bool, 1)
	go func() { ready <- ns.ReadyForConnections(30 * time.Second) }()
	fail := func(err error) (*embedded, error) {
		ns.Shutdown()
		ns.WaitForShutdown()
		unlock()
		return nil, err
	}
	select {
	case ok := <-ready:
		if !ok {
			return fail(errors.New("embedded nats-server did not start within 30s"))
		}
	case msg := <-fl.fatal:
		return fail(fmt.Errorf("embedded nats-server (--cluster-listen %s): %s", n.ClusterListen, msg))
	case <-ctx.Done():
		return fail(ctx.Err())
	}
	logger.Info("embedded nats-server started", "name", o.ServerName, "cluster", n.ClusterName,
		"listen", n.ClusterListen, "peers", n.ClusterPeers, "store", dir)
	return &embedded{Server: ns, lock: lock}, nil
}

func stopEmbedded(ns *embedded) {
	if ns != nil {
		ns.Shutdown()
		ns.WaitForShutdown()
		_ = ns.lock.Close()
	}
}

// natsStore is the JetStream log with the connection (and embedded
// server) it owns.
type natsStore struct {
	*jetlog.Log
	nc *nats.Conn
	ns *embedded
}

func (s *natsStore) Close() error {
	err := s.Log.Close()
	if ferr := s.nc.Drain(); ferr != nil {
		s.nc.Close()
	}
	stopEmbedded(s.ns)
	return err
}
