package bench

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Ceiling is the no-op server every figure is measured against: sselog's
// publish, batch, broadcast and stream routes answered from memory, with
// the same stream algorithm (subscribers pull frames after their own
// cursor; a commit only wakes them) and no storage, no fsync, no
// validation beyond decoding the JSON, no idempotency, no auth. Ids are a
// counter, zero-padded to 26 digits so they sort as text like ULIDs do.
// The newest events are held in a bounded ring so a resume can be
// replayed; an older resume point gets a gap.
type Ceiling struct {
	mu      sync.RWMutex
	seq     uint64  // last id handed out
	ring    []entry // ring[id % ringCap]; grows to ringCap, then wraps
	ringCap int
	waiters map[string]chan struct{} // user → closed by its next commit; "" = broadcast

	heartbeat time.Duration
	streams   atomic.Int64

	// commit, when set, makes every publish request commit one bare bbolt
	// transaction before it is answered: the floor's server (floor.go).
	commit func(data []byte) error

	// fault, set only by tests, says what a subscriber of user is sent in
	// place of a frame: none drops it, two copies duplicate it, other
	// frames reorder, misroute or add to it, and a nil frame ends the
	// stream there. nil means the frame itself.
	fault func(user string, frame []byte) [][]byte
}

type entry struct {
	user  string // "" = broadcast
	frame []byte // id:, event:, data: and the blank line, ready to write
}

// NewCeiling returns a ceiling holding up to ring events for replay
// (0 means 1<<20) and writing a heartbeat comment after heartbeat of
// silence (0 means 15 s, the server's default).
func NewCeiling(ring int, heartbeat time.Duration) *Ceiling {
	if ring <= 0 {
		ring = 1 << 20
	}
	if heartbeat <= 0 {
		heartbeat = 15 * time.Second
	}
	return &Ceiling{ringCap: ring, waiters: make(map[string]chan struct{}), heartbeat: heartbeat}
}

// Handler serves the ceiling's routes.
func (c *Ceiling) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/users/{user}/events", func(w http.ResponseWriter, r *http.Request) {
		c.publishOne(w, r, r.PathValue("user"))
	})
	mux.HandleFunc("POST /v1/broadcast", func(w http.ResponseWriter, r *http.Request) { c.publishOne(w, r, "") })
	mux.HandleFunc("POST /v1/events", c.publishBatch)
	mux.HandleFunc("GET /v1/users/{user}/stream", c.serveStream)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok", "server": "ceiling"})
	})
	mux.HandleFunc("GET /metrics", c.metrics)
	return mux
}

type pubIn struct {
	User  string          `json:"user"`
	Event string          `json:"event"`
	Data  json.RawMessage `json:"data"`
}

func (c *Ceiling) publishOne(w http.ResponseWriter, r *http.Request, user string) {
	var in pubIn
	if err := decodeBody(w, r, 64<<10, &in); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	}
	in.User = user
	if c.commit != nil {
		if err := c.commit(in.Data); err != nil {
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": err.Error()})
			return
		}
	}
	ids, err := c.append([]pubIn{in})
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	}
	writeJSON(w, http.StatusCreated, map[string]string{"id": ids[0]})
}

func (c *Ceiling) publishBatch(w http.ResponseWriter, r *http.Request) {
	var in []pubIn
	if err := decodeBody(w, r, 1<<20, &in); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	}
	ids, err := c.append(in)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	}
	writeJSON(w, http.StatusCreated, map[string][]string{"ids": ids})
}

func decodeBody(w http.ResponseWriter, r *http.Request, limit int64, v any) error {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		return fmt.Errorf("read body: %w", err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("decode body: %w", err)
	}
	return nil
}

func ceilingID(seq uint64) string { return fmt.Sprintf("%026d", seq) }

// append formats every event, then stores them and wakes their readers
// under one lock, so id order is ring order.
func (c *Ceiling) append(in []pubIn) ([]string, error) {
	frames := make([][]byte, len(in))
	for i, e := range in {
		if len(e.Data) == 0 {
			return nil, fmt.Errorf("event %d: data is required", i)
		}
		var data bytes.Buffer
		if err := json.Compact(&data, e.Data); err != nil {
			return nil, fmt.Errorf("event %d: data: %w", i, err)
		}
		frames[i] = data.Bytes()
	}
	ids := make([]string, len(in))
	var wake []chan struct{}
	c.mu.Lock()
	for i, e := range in {
		c.seq++
		ids[i] = ceilingID(c.seq)
		f := make([]byte, 0, len(frames[i])+len(e.Event)+48)
		f = append(append(append(f, "id: "...), ids[i]...), '\n')
		if e.Event != "" {
			f = append(append(append(f, "event: "...), e.Event...), '\n')
		}
		f = append(append(append(f, "data: "...), frames[i]...), "\n\n"...)
		if len(c.ring) < c.ringCap {
			c.ring = append(c.ring, entry{})
		}
		c.ring[(c.seq-1)%uint64(c.ringCap)] = entry{user: e.User, frame: f}
		if ch, ok := c.waiters[e.User]; ok {
			wake = append(wake, ch)
			delete(c.waiters, e.User)
		}
	}
	c.mu.Unlock()
	for _, ch := range wake {
		close(ch)
	}
	return ids, nil
}

// changed returns channels closed by the next commit for user and for
// broadcast. Taken before a read, they miss no commit.
func (c *Ceiling) changed(user string) (uc, bc <-chan struct{}) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.waiter(user), c.waiter("")
}

func (c *Ceiling) waiter(user string) chan struct{} {
	ch, ok := c.waiters[user]
	if !ok {
		ch = make(chan struct{})
		c.waiters[user] = ch
	}
	return ch
}

// read appends to dst up to limit frames after id `after` for user,
// returning the id it read up to and whether events it should have
// returned have left the ring.
func (c *Ceiling) read(dst [][]byte, user string, after uint64, limit int) ([][]byte, uint64, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	oldest := c.seq - uint64(len(c.ring)) + 1
	gap := after+1 < oldest
	id := max(after, oldest-1)
	for id < c.seq && len(dst) < limit {
		id++
		if e := &c.ring[(id-1)%uint64(c.ringCap)]; e.user == user || e.user == "" {
			dst = append(dst, e.frame)
		}
	}
	return dst, id, gap
}

func (c *Ceiling) last() uint64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.seq
}

func (c *Ceiling) serveStream(w http.ResponseWriter, r *http.Request) {
	user := r.PathValue("user")
	raw := r.Header.Get("Last-Event-ID")
	if raw == "" {
		raw = r.URL.Query().Get("lastEventId")
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache, no-transform")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	c.streams.Add(1)
	defer c.streams.Add(-1)

	cursor := c.last()
	connected, _ := json.Marshal(map[string]string{"userId": user, "timestamp": time.Now().UTC().Format(time.RFC3339Nano), "lastEventId": raw})
	pre := "retry: 2000\nevent: connected\ndata: " + string(connected) + "\n\n"
	if raw != "" {
		n, err := strconv.ParseUint(raw, 10, 64)
		if err != nil {
			pre += "event: gap\ndata: {\"reason\":\"invalid-last-event-id\"}\n\n"
		} else {
			cursor = min(n, cursor)
		}
	}
	rc := http.NewResponseController(w)
	if _, err := io.WriteString(w, pre); err != nil || rc.Flush() != nil {
		return
	}
	c.follow(r, w, rc, user, cursor)
}

// follow is the stream loop: take the wake channels, read a page after
// the cursor, write it, and wait only when the page was not full.
func (c *Ceiling) follow(r *http.Request, w io.Writer, rc *http.ResponseController, user string, cursor uint64) {
	const page = 256
	timer := time.NewTimer(c.heartbeat)
	defer timer.Stop()
	var frames [][]byte // grows only for a stream that reads full pages: idle ones stay small
	for {
		uc, bc := c.changed(user)
		var gap bool
		frames, cursor, gap = c.read(frames[:0], user, cursor, page)
		if gap && write(w, []byte("event: gap\ndata: {\"reason\":\"retention\"}\n\n")) != nil {
			return
		}
		for _, f := range frames {
			out := [][]byte{f}
			if c.fault != nil {
				out = c.fault(user, f)
			}
			for _, o := range out {
				if o == nil || write(w, o) != nil {
					return
				}
			}
		}
		if len(frames) > 0 || gap {
			if rc.Flush() != nil {
				return
			}
			timer.Reset(c.heartbeat)
		}
		if len(frames) == page {
			continue
		}
		select {
		case <-r.Context().Done():
			return
		case <-uc:
		case <-bc:
		case <-timer.C:
			if write(w, []byte(": heartbeat\n\n")) != nil || rc.Flush() != nil {
				return
			}
			timer.Reset(c.heartbeat)
		}
	}
}

func write(w io.Writer, b []byte) error {
	_, err := w.Write(b)
	return err
}

// metrics answers with the process figures the connections scenario
// reads, in Prometheus text format.
func (c *Ceiling) metrics(w http.ResponseWriter, _ *http.Request) {
	rss, err := residentBytes()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/plain; version=0.0.4")
	fmt.Fprintf(w, "# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes %d\n", rss)
	fmt.Fprintf(w, "# TYPE sselog_bench_ceiling_streams gauge\nsselog_bench_ceiling_streams %d\n", c.streams.Load())
}

// residentBytes reads this process's RSS from /proc/self/statm.
func residentBytes() (int64, error) {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0, fmt.Errorf("read RSS: %w", err)
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0, fmt.Errorf("read RSS: short /proc/self/statm %q", b)
	}
	pages, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("read RSS: %w", err)
	}
	return pages * int64(os.Getpagesize()), nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
