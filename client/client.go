// Package client is a small Go client for an sselog server: publish (one
// event, a broadcast, a batch), read history, download a backup, and
// tail a user's stream with automatic, exact resume.
//
// A Client shares one keep-alive http.Client across goroutines, so a load
// generator can publish from many goroutines over pooled connections.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Client talks to one sselog server. It is safe for concurrent use.
type Client struct {
	base       string // scheme://host[:port][/prefix], no trailing slash
	key        string
	hc         *http.Client
	streamIdle time.Duration
	minBackoff time.Duration
	maxBackoff time.Duration
	onRetry    func(err error, wait time.Duration)
}

// Option configures a Client.
type Option func(*Client)

// WithPublisherKey sets the key sent on publish and backup requests.
func WithPublisherKey(key string) Option { return func(c *Client) { c.key = key } }

// WithHTTPClient replaces the default keep-alive client. It must not set a
// Timeout, or streams and backups are cut; bound calls with their ctx.
func WithHTTPClient(hc *http.Client) Option { return func(c *Client) { c.hc = hc } }

// WithStreamIdleTimeout makes Tail reconnect when a stream sends nothing,
// not even a heartbeat, for d (default 90 s, six missed 15 s heartbeats):
// the cure for a connection that died without a FIN.
func WithStreamIdleTimeout(d time.Duration) Option { return func(c *Client) { c.streamIdle = d } }

// WithBackoff bounds Tail's reconnection delay. The server's retry: value,
// when sent, replaces min.
func WithBackoff(min, max time.Duration) Option {
	return func(c *Client) { c.minBackoff, c.maxBackoff = min, max }
}

// WithRetryNotify makes Tail call fn each time its stream is lost and
// before it waits to reconnect: err says why (nil when the server ended
// the stream, as it does on shutdown), wait how long until the next try.
// A terminal tool uses it to say it lost the server and is retrying.
func WithRetryNotify(fn func(err error, wait time.Duration)) Option {
	return func(c *Client) { c.onRetry = fn }
}

// New returns a client for the server at baseURL, e.g.
// "http://127.0.0.1:8080".
func New(baseURL string, opts ...Option) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("client: base URL %q: want http(s)://host[:port]", baseURL)
	}
	c := &Client{
		base:       strings.TrimRight(u.String(), "/"),
		hc:         &http.Client{Transport: NewTransport()},
		streamIdle: 90 * time.Second,
		minBackoff: time.Second,
		maxBackoff: 30 * time.Second,
	}
	for _, o := range opts {
		o(c)
	}
	return c, nil
}

// NewTransport returns a transport that keeps many idle connections per
// host, so concurrent publishers reuse connections instead of opening
// (and leaving in TIME_WAIT) one per request.
func NewTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = 0 // no global cap
	t.MaxIdleConnsPerHost = 1024
	t.IdleConnTimeout = 90 * time.Second
	return t
}

// Error is a non-2xx answer from the server.
type Error struct {
	Status  int    // HTTP status
	Message string // the server's {"error": ...}, or the status text
}

func (e *Error) Error() string { return fmt.Sprintf("%d %s", e.Status, e.Message) }

// Event is one event of a batch. User "" is a broadcast.
type Event struct {
	User  string          `json:"user,omitempty"`
	Event string          `json:"event,omitempty"`
	Data  json.RawMessage `json:"data"`
}

// Publish stores one event for user and returns its id once the server
// has committed it. event "" is the default "message"; data must be JSON.
// A non-empty idemKey makes a retry return the first id.
func (c *Client) Publish(ctx context.Context, user, event string, data json.RawMessage, idemKey string) (string, error) {
	return c.publishOne(ctx, "/v1/users/"+url.PathEscape(user)+"/events", event, data, idemKey)
}

// Broadcast stores one event for every user.
func (c *Client) Broadcast(ctx context.Context, event string, data json.RawMessage, idemKey string) (string, error) {
	return c.publishOne(ctx, "/v1/broadcast", event, data, idemKey)
}

func (c *Client) publishOne(ctx context.Context, path, event string, data json.RawMessage, idemKey string) (string, error) {
	body, err := json.Marshal(Event{Event: event, Data: data})
	if err != nil {
		return "", fmt.Errorf("publish: encode: %w", err)
	}
	var out struct {
		ID string `json:"id"`
	}
	if err := c.post(ctx, path, body, idemKey, &out); err != nil {
		return "", fmt.Errorf("publish: %w", err)
	}
	return out.ID, nil
}

// PublishBatch stores events in one transaction, all or none, and returns
// their ids in order. idemKey covers the whole batch.
func (c *Client) PublishBatch(ctx context.Context, events []Event, idemKey string) ([]string, error) {
	body, err := json.Marshal(events)
	if err != nil {
		return nil, fmt.Errorf("publish batch: encode: %w", err)
	}
	var out struct {
		IDs []string `json:"ids"`
	}
	if err := c.post(ctx, "/v1/events", body, idemKey, &out); err != nil {
		return nil, fmt.Errorf("publish batch: %w", err)
	}
	return out.IDs, nil
}

// HistoryEvent is one event of a history page.
type HistoryEvent struct {
	ID    string          `json:"id"`
	Event string          `json:"event"`
	Data  json.RawMessage `json:"data"`
	Time  time.Time       `json:"time"`
}

// Page is one page of history. Next is the cursor for the following page.
// Gap is set when retention deleted events after the cursor asked for.
type Page struct {
	Events []HistoryEvent `json:"events"`
	Next   string         `json:"next"`
	Gap    *struct {
		Reason   string `json:"reason"`
		OldestID string `json:"oldestId"`
	} `json:"gap,omitempty"`
	// More is set when the server cut the page at its byte bound before
	// limit: call again with Next for the rest.
	More bool `json:"more,omitempty"`
}

// History returns up to limit of user's events after the id after ("" =
// from the oldest retained; limit 0 = the server's default).
func (c *Client) History(ctx context.Context, user, token, after string, limit int) (Page, error) {
	q := url.Values{}
	if after != "" {
		q.Set("after", after)
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	req, err := c.request(ctx, http.MethodGet, "/v1/users/"+url.PathEscape(user)+"/events?"+q.Encode(), nil)
	if err != nil {
		return Page{}, err
	}
	setBearer(req, token)
	var p Page
	if err := c.doJSON(req, http.StatusOK, &p); err != nil {
		return Page{}, fmt.Errorf("history of %q: %w", user, err)
	}
	return p, nil
}

func (c *Client) post(ctx context.Context, path string, body []byte, idemKey string, out any) error {
	req, err := c.request(ctx, http.MethodPost, path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if idemKey != "" {
		req.Header.Set("Idempotency-Key", idemKey)
	}
	setBearer(req, c.key)
	return c.doJSON(req, http.StatusCreated, out)
}

func (c *Client) request(ctx context.Context, method, path string, body io.Reader) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return nil, fmt.Errorf("build request %s %s: %w", method, path, err)
	}
	return req, nil
}

func setBearer(req *http.Request, tok string) {
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
}

// doJSON sends req and decodes a want-status JSON answer into out. The
// body is always drained so the connection goes back to the pool.
func (c *Client) doJSON(req *http.Request, want int, out any) error {
	resp, err := c.hc.Do(req)
	if err != nil {
		return err
	}
	defer drain(resp.Body)
	if resp.StatusCode != want {
		return responseError(resp)
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<20)).Decode(out); err != nil {
		return fmt.Errorf("decode answer: %w", err)
	}
	return nil
}

// responseError reads a server's {"error": ...} body into an *Error.
func responseError(resp *http.Response) error {
	var body struct {
		Error string `json:"error"`
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if json.Unmarshal(b, &body) != nil || body.Error == "" {
		body.Error = http.StatusText(resp.StatusCode)
	}
	return &Error{Status: resp.StatusCode, Message: body.Error}
}

func drain(rc io.ReadCloser) {
	_, _ = io.Copy(io.Discard, io.LimitReader(rc, 256<<10))
	_ = rc.Close()
}

// Backup downloads a consistent snapshot of the server's data file into w,
// calling progress (if set) as bytes arrive with the total size. A
// transfer shorter than the announced size is an error.
func (c *Client) Backup(ctx context.Context, w io.Writer, progress func(done, total int64)) error {
	req, err := c.request(ctx, http.MethodGet, "/v1/admin/backup", nil)
	if err != nil {
		return err
	}
	setBearer(req, c.key)
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	defer drain(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("backup: %w", responseError(resp))
	}
	pw := &progressWriter{w: w, total: resp.ContentLength, fn: progress}
	n, err := io.Copy(pw, resp.Body)
	if err != nil {
		return fmt.Errorf("backup: after %d bytes: %w", n, err)
	}
	if resp.ContentLength >= 0 && n != resp.ContentLength {
		return fmt.Errorf("backup: got %d of %d bytes", n, resp.ContentLength)
	}
	return nil
}

type progressWriter struct {
	w     io.Writer
	done  int64
	total int64
	fn    func(done, total int64)
}

func (p *progressWriter) Write(b []byte) (int, error) {
	n, err := p.w.Write(b)
	p.done += int64(n)
	if p.fn != nil {
		p.fn(p.done, p.total)
	}
	return n, err
}

// ErrStop, returned by a Tail callback, ends Tail with a nil error.
var ErrStop = errors.New("client: stop tailing")
