package stream

import (
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// sink is where a session writes its frames: the ResponseWriter while
// net/http owns the connection, or the connection itself once a stream is
// detached from net/http (chunkedConn).
type sink interface {
	Write(b []byte) (int, error)
	// Flush sends what was written since the last Flush.
	Flush() error
	SetWriteDeadline(t time.Time) error
}

// httpSink writes through net/http (HTTP/2, and any writer that cannot be
// hijacked).
type httpSink struct {
	w  http.ResponseWriter
	rc *http.ResponseController
}

func (s httpSink) Write(b []byte) (int, error)        { return s.w.Write(b) }
func (s httpSink) Flush() error                       { return s.rc.Flush() }
func (s httpSink) SetWriteDeadline(t time.Time) error { return s.rc.SetWriteDeadline(t) }

// Chunk bounds: a chunk's size is written in hex into the room reserved
// before its data, and a long page is sent in chunks of at most maxChunk.
const (
	chunkHead = 10 // up to 8 hex digits and CRLF
	maxChunk  = 32 << 10
)

// chunkBufs holds the buffers of sessions that are writing. An idle
// stream holds none.
var chunkBufs = sync.Pool{New: func() any { b := make([]byte, 0, 4<<10); return &b }}

// chunkedConn writes an HTTP/1.1 response body with chunked transfer
// coding straight to a hijacked connection: what is written between two
// Flushes goes out as one chunk, in one write. It holds a buffer only
// while a session is writing.
type chunkedConn struct {
	c   net.Conn
	buf *[]byte
	err error // the first failed write: it sticks, and no last chunk follows
}

func (w *chunkedConn) Write(b []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	if len(b) >= maxChunk {
		// A large frame goes out as its own chunk, uncopied.
		if err := w.flush(false); err != nil {
			return 0, err
		}
		return w.writeChunk(b)
	}
	if w.buf == nil {
		w.buf = chunkBufs.Get().(*[]byte)
		*w.buf = append((*w.buf)[:0], make([]byte, chunkHead)...)
	}
	*w.buf = append(*w.buf, b...)
	if len(*w.buf) >= maxChunk {
		if err := w.flush(false); err != nil {
			return 0, err
		}
	}
	return len(b), nil
}

// Flush sends the pending chunk and gives the buffer back.
func (w *chunkedConn) Flush() error { return w.flush(true) }

func (w *chunkedConn) flush(release bool) error {
	if w.buf == nil {
		return w.err
	}
	b := *w.buf
	var err error
	if n := len(b) - chunkHead; n > 0 {
		var hex [8]byte
		h := strconv.AppendInt(hex[:0], int64(n), 16)
		start := chunkHead - 2 - len(h)
		copy(b[start:], h)
		b[chunkHead-2], b[chunkHead-1] = '\r', '\n'
		b = append(b, '\r', '\n')
		if _, err = w.c.Write(b[start:]); err != nil {
			w.err = err
		}
	}
	*w.buf = b[:chunkHead]
	if release || err != nil {
		if cap(b) <= 4*maxChunk {
			chunkBufs.Put(w.buf)
		}
		w.buf = nil
	}
	return err
}

// writeChunk writes b as one chunk with one writev, without copying it.
func (w *chunkedConn) writeChunk(b []byte) (int, error) {
	var head [chunkHead]byte
	h := strconv.AppendInt(head[:0], int64(len(b)), 16)
	h = append(h, '\r', '\n')
	bufs := net.Buffers{h, b, crlf}
	if _, err := bufs.WriteTo(w.c); err != nil {
		w.err = err
		return 0, err
	}
	return len(b), nil
}

var crlf = []byte("\r\n")

// lastChunk ends the body.
var lastChunk = []byte("0\r\n\r\n")

// end writes the last chunk, dropping anything not flushed, unless a
// write failed.
func (w *chunkedConn) end() error {
	if w.buf != nil {
		chunkBufs.Put(w.buf)
		w.buf = nil
	}
	if w.err != nil {
		return w.err
	}
	_, err := w.c.Write(lastChunk)
	return err
}

func (w *chunkedConn) SetWriteDeadline(t time.Time) error { return w.c.SetWriteDeadline(t) }
