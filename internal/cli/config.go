package cli

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"time"
	"unicode"

	"github.com/sselog/sselog/api"
	"github.com/sselog/sselog/eventlog"
)

// serveConfig is the server's effective configuration.
type serveConfig struct {
	Addr              string
	Data              string
	PublisherKey      string
	SubscriberSecret  string
	Retention         time.Duration
	MaxEvents         int
	CompactInterval   time.Duration
	MaxClockJump      time.Duration
	Heartbeat         time.Duration
	Retry             time.Duration
	WriteTimeout      time.Duration
	MaxBody           int64
	MaxBatchBody      int64
	CORSOrigins       string
	TLSCert, TLSKey   string
	ShutdownTimeout   time.Duration
	LogFormat         string
	Pprof             string
	ReadTimeout       time.Duration
	MaxStreams        int
	MaxStreamsPerUser int
	TokenAudience     string
	TokenIssuer       string
	TailBytes         int64
	PageBytes         int64
	MetricsAddr       string
	NATS              natsConfig // cluster mode (nats.go)
}

const serveSummary = `Serve the HTTP API and SSE streams. Without --publisher-key and
--subscriber-secret the server runs open (anyone may publish and read any
user), which is allowed only on a loopback address.`

// parseServeConfig reads the server's flags over its environment and
// checks the result.
func parseServeConfig(args []string, getenv func(string) string, stdout io.Writer) (serveConfig, error) {
	var c serveConfig
	f := newEnvFlags("serve", serveSummary, getenv, stdout)
	f.String(&c.Addr, "addr", "SSELOG_ADDR", "127.0.0.1:8080", "address to listen on, host:port")
	f.String(&c.Data, "data", "SSELOG_DATA", "data/sselog.db", "path of the bbolt data file (created if missing)")
	f.Secret(&c.PublisherKey, "publisher-key", "SSELOG_PUBLISHER_KEY", "bearer key for publish and admin routes")
	f.Secret(&c.SubscriberSecret, "subscriber-secret", "SSELOG_SUBSCRIBER_SECRET", "HS256 secret that signs subscriber tokens")
	f.Duration(&c.Retention, "retention", "SSELOG_RETENTION", 168*time.Hour, "delete events older than this (0 = keep by age forever)")
	f.Int(&c.MaxEvents, "max-events", "SSELOG_MAX_EVENTS", 10000, "events kept per user, and for broadcasts (0 = no cap)")
	f.Duration(&c.CompactInterval, "compact-interval", "SSELOG_COMPACT_INTERVAL", time.Minute, "how often retention runs")
	f.Duration(&c.MaxClockJump, "max-clock-jump", "SSELOG_MAX_CLOCK_JUMP", 24*time.Hour, "at start, a wall clock further ahead of the newest event is not trusted to age events and idempotency keys (logged)")
	f.Duration(&c.Heartbeat, "heartbeat", "SSELOG_HEARTBEAT", 15*time.Second, "heartbeat comment after this long without a write on a stream")
	f.Duration(&c.Retry, "retry", "SSELOG_RETRY", 2*time.Second, "reconnection delay sent to browsers as retry:")
	f.Duration(&c.WriteTimeout, "write-timeout", "SSELOG_WRITE_TIMEOUT", 30*time.Second, "close a stream whose client accepts no write for this long")
	f.Int64(&c.MaxBody, "max-body", "SSELOG_MAX_BODY", api.DefaultMaxBody, "largest publish body in bytes (and largest event data in a batch)")
	f.Int64(&c.MaxBatchBody, "max-batch-body", "SSELOG_MAX_BATCH_BODY", api.DefaultMaxBatchBody, "largest batch body in bytes")
	f.String(&c.CORSOrigins, "cors-origins", "SSELOG_CORS_ORIGINS", "", "comma-separated origins allowed to call from a browser, e.g. https://app.example.com")
	f.String(&c.TLSCert, "tls-cert", "SSELOG_TLS_CERT", "", "TLS certificate file (PEM); with --tls-key serves HTTPS and HTTP/2")
	f.String(&c.TLSKey, "tls-key", "SSELOG_TLS_KEY", "", "TLS private key file (PEM)")
	f.Duration(&c.ShutdownTimeout, "shutdown-timeout", "SSELOG_SHUTDOWN_TIMEOUT", 10*time.Second, "how long in-flight requests may take to finish on SIGTERM")
	f.String(&c.LogFormat, "log-format", "SSELOG_LOG_FORMAT", "text", "log format: text or json")
	f.Duration(&c.ReadTimeout, "read-timeout", "SSELOG_READ_TIMEOUT", api.DefaultReadTimeout, "a request (headers and body) must arrive within this long of its first byte")
	f.Int(&c.MaxStreams, "max-streams", "SSELOG_MAX_STREAMS", 0, "open streams in all, past which a stream request gets 429 (0 = the file limit less a reserve for publishes and health checks)")
	f.Int(&c.MaxStreamsPerUser, "max-streams-per-user", "SSELOG_MAX_STREAMS_PER_USER", api.DefaultMaxStreamsPerUser, "open streams per user, past which a stream request gets 429")
	f.Int64(&c.TailBytes, "tail-bytes", "SSELOG_TAIL_BYTES", eventlog.DefaultTailBytes, "memory for the newest events kept to answer live streams, in bytes")
	f.Int64(&c.PageBytes, "page-bytes", "SSELOG_PAGE_BYTES", eventlog.DefaultPageBytes, "event data one history page or one replay read holds at most, in bytes")
	f.String(&c.TokenAudience, "token-audience", "SSELOG_TOKEN_AUDIENCE", "", "when set, subscriber tokens must carry this aud claim")
	f.String(&c.TokenIssuer, "token-issuer", "SSELOG_TOKEN_ISSUER", "", "when set, subscriber tokens must carry this iss claim")
	f.String(&c.MetricsAddr, "metrics-addr", "SSELOG_METRICS_ADDR", "", "serve /metrics on this address only (say 127.0.0.1:9090) instead of the public one")
	f.String(&c.Pprof, "pprof", "SSELOG_PPROF", "", "serve net/http/pprof on this loopback address, e.g. 127.0.0.1:6060")
	c.NATS.register(f)
	if err := f.Parse(args); err != nil {
		return c, err
	}
	// A key read from a file often keeps its newline; the server trims the
	// Authorization header, so trim the configured key the same way.
	c.PublisherKey, c.SubscriberSecret = strings.TrimSpace(c.PublisherKey), strings.TrimSpace(c.SubscriberSecret)
	return c, c.validate()
}

// minKeyLen is the shortest publisher key or subscriber secret accepted:
// 32 bytes, the size of an HS256 key, so tokens cannot be forged by
// guessing the secret.
const minKeyLen = 32

// checkKey refuses a short key or one with whitespace inside.
func checkKey(flag, env, v string) error {
	switch {
	case len(v) < minKeyLen:
		return fmt.Errorf("--%s (%s) is %d bytes; it must be at least %d bytes: make one with `openssl rand -hex 32`", flag, env, len(v), minKeyLen)
	case strings.ContainsFunc(v, unicode.IsSpace):
		return fmt.Errorf("--%s (%s) holds whitespace, which no Authorization header can carry; make one with `openssl rand -hex 32`", flag, env)
	}
	return nil
}

func (c serveConfig) openMode() bool { return c.PublisherKey == "" && c.SubscriberSecret == "" }

// validate refuses configurations that would start badly or unsafely.
func (c serveConfig) validate() error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		bad("--addr %q: want host:port: %v", c.Addr, err)
	}
	switch {
	case (c.PublisherKey == "") != (c.SubscriberSecret == ""):
		bad("--publisher-key (SSELOG_PUBLISHER_KEY) and --subscriber-secret (SSELOG_SUBSCRIBER_SECRET) come together: set both, or neither for open mode on a loopback address")
	case !c.openMode():
		for _, err := range []error{
			checkKey("publisher-key", "SSELOG_PUBLISHER_KEY", c.PublisherKey),
			checkKey("subscriber-secret", "SSELOG_SUBSCRIBER_SECRET", c.SubscriberSecret),
		} {
			if err != nil {
				errs = append(errs, err)
			}
		}
	case c.openMode() && !isLoopback(c.Addr):
		bad("refusing to listen on %s without keys: anyone could publish and read every user's events. "+
			"Set --publisher-key and --subscriber-secret (SSELOG_PUBLISHER_KEY, SSELOG_SUBSCRIBER_SECRET), "+
			"or listen on a loopback address such as 127.0.0.1:8080", c.Addr)
	}
	if c.Data == "" {
		bad("--data is empty")
	}
	for _, d := range []struct {
		name   string
		d      time.Duration
		zeroOK bool
	}{
		{"retention", c.Retention, true}, {"compact-interval", c.CompactInterval, true},
		{"heartbeat", c.Heartbeat, false}, {"retry", c.Retry, false},
		{"write-timeout", c.WriteTimeout, false}, {"shutdown-timeout", c.ShutdownTimeout, false},
		{"read-timeout", c.ReadTimeout, false},
		{"max-clock-jump", c.MaxClockJump, false},
	} {
		if d.d < 0 || d.d == 0 && !d.zeroOK {
			bad("--%s %s must be positive", d.name, d.d)
		}
	}
	if c.TailBytes <= 0 || c.PageBytes <= 0 {
		bad("--tail-bytes %d and --page-bytes %d must be positive", c.TailBytes, c.PageBytes)
	}
	if c.MaxStreams < 0 {
		bad("--max-streams %d is negative", c.MaxStreams)
	}
	if c.MaxStreamsPerUser <= 0 {
		bad("--max-streams-per-user %d must be positive", c.MaxStreamsPerUser)
	}
	if c.MaxEvents < 0 {
		bad("--max-events %d is negative", c.MaxEvents)
	}
	if c.MaxBody <= 0 || c.MaxBatchBody < c.MaxBody {
		bad("--max-body %d must be positive and at most --max-batch-body %d", c.MaxBody, c.MaxBatchBody)
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		bad("--tls-cert and --tls-key come together")
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		bad("--log-format %q: want text or json", c.LogFormat)
	}
	if c.MetricsAddr != "" {
		if _, _, err := net.SplitHostPort(c.MetricsAddr); err != nil {
			bad("--metrics-addr %q: want host:port: %v", c.MetricsAddr, err)
		}
	}
	if c.Pprof != "" && !isLoopback(c.Pprof) {
		bad("--pprof %q: profiling is served only on a loopback address", c.Pprof)
	}
	errs = append(errs, c.NATS.validate()...)
	return errors.Join(errs...)
}

// isLoopback reports whether addr (host:port) names only loopback
// interfaces. An empty host means every interface, so it is not.
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil || host == "" {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	host, _, _ = strings.Cut(host, "%") // zone
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// origins splits the comma-separated --cors-origins value.
func (c serveConfig) origins() []string {
	var out []string
	for o := range strings.SplitSeq(c.CORSOrigins, ",") {
		if o = strings.TrimSpace(o); o != "" {
			out = append(out, o)
		}
	}
	return out
}

// logAttrs is the effective configuration for the start line, secrets
// left out.
func (c serveConfig) logAttrs() []any {
	auth := "keys"
	if c.openMode() {
		auth = "open"
	}
	return append([]any{
		"data", c.Data, "auth", auth, "retention", c.Retention, "max_events", c.MaxEvents,
		"compact_interval", c.CompactInterval, "max_clock_jump", c.MaxClockJump, "heartbeat", c.Heartbeat, "retry", c.Retry,
		"write_timeout", c.WriteTimeout, "max_body", c.MaxBody, "max_batch_body", c.MaxBatchBody,
		"cors_origins", c.CORSOrigins, "tls", c.TLSCert != "", "shutdown_timeout", c.ShutdownTimeout,
		"log_format", c.LogFormat, "pprof", c.Pprof, "read_timeout", c.ReadTimeout,
		"max_streams", c.MaxStreams, "max_streams_per_user", c.MaxStreamsPerUser,
		"metrics_addr", c.MetricsAddr, "tail_bytes", c.TailBytes, "page_bytes", c.PageBytes, "token_audience", c.TokenAudience, "token_issuer", c.TokenIssuer,
	}, c.NATS.logAttrs()...)
}

func newLogger(format string, w io.Writer) *slog.Logger {
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, nil))
	}
	return slog.New(slog.NewTextHandler(w, nil))
}
