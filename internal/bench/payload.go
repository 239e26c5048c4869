package bench

import (
	"strconv"
	"strings"
)

// appendData appends a JSON object of exactly size bytes (or the
// smallest that holds the fields, if size is smaller) carrying the
// publish time in unix nanoseconds and a sequence number, first, where
// stamp finds them without a JSON decoder.
func appendData(dst []byte, t int64, seq int64, size int) []byte {
	start := len(dst)
	dst = append(dst, `{"t":`...)
	dst = strconv.AppendInt(dst, t, 10)
	dst = append(dst, `,"seq":`...)
	dst = strconv.AppendInt(dst, seq, 10)
	const padField = `,"pad":""}`
	if pad := size - (len(dst) - start) - len(padField); pad >= 0 {
		dst = append(dst, `,"pad":"`...)
		for range pad {
			dst = append(dst, 'x')
		}
		dst = append(dst, `"`...)
	}
	return append(dst, '}')
}

// stamp reads the time and sequence number appendData wrote.
func stamp(data string) (t, seq int64, ok bool) {
	rest, ok := strings.CutPrefix(data, `{"t":`)
	if !ok {
		return 0, 0, false
	}
	ts, rest, ok := strings.Cut(rest, `,"seq":`)
	if !ok {
		return 0, 0, false
	}
	end := strings.IndexAny(rest, ",}")
	if end < 0 {
		return 0, 0, false
	}
	t, err1 := strconv.ParseInt(ts, 10, 64)
	seq, err2 := strconv.ParseInt(rest[:end], 10, 64)
	return t, seq, err1 == nil && err2 == nil
}

// appendEvent appends one batch element or publish body: user "" leaves
// the user field out (a broadcast in a batch; the path names the user
// of a single publish).
func appendEvent(dst []byte, user string, t, seq int64, size int) []byte {
	dst = append(dst, '{')
	if user != "" {
		dst = append(append(append(dst, `"user":"`...), user...), `",`...)
	}
	dst = append(dst, `"event":"`+eventName+`","data":`...)
	dst = appendData(dst, t, seq, size)
	return append(dst, '}')
}
