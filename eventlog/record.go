package eventlog

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Record layout (the value under an id key; the user is the bucket):
//
//	byte     version (1)
//	varint   time, Unix nanoseconds
//	uvarint  len(name), then name
//	rest     data (compact JSON)
const recordVersion = 1

var errCorrupt = errors.New("corrupt record")

func encodeRecord(dst []byte, unixNano int64, name string, data []byte) []byte {
	dst = append(dst, recordVersion)
	dst = binary.AppendVarint(dst, unixNano)
	dst = binary.AppendUvarint(dst, uint64(len(name)))
	dst = append(dst, name...)
	return append(dst, data...)
}

// decodeRecord parses a value. The returned data aliases v; callers copy
// it before the transaction ends.
func decodeRecord(v []byte) (unixNano int64, name string, data []byte, err error) {
	if len(v) == 0 || v[0] != recordVersion {
		return 0, "", nil, fmt.Errorf("decode record: %w: version", errCorrupt)
	}
	v = v[1:]
	unixNano, n := binary.Varint(v)
	if n <= 0 {
		return 0, "", nil, fmt.Errorf("decode record: %w: time", errCorrupt)
	}
	v = v[n:]
	l, n := binary.Uvarint(v)
	if n <= 0 || l > uint64(len(v)-n) {
		return 0, "", nil, fmt.Errorf("decode record: %w: name", errCorrupt)
	}
	v = v[n:]
	return unixNano, string(v[:l]), v[l:], nil
}
