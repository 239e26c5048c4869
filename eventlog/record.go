package eventlog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
)

// Record layout (the value under an id key; the user is the bucket).
// Version 2, written since checksums:
//
//	byte     version (2)
//	4 bytes  CRC-32C (Castagnoli), big-endian, of the id key then every
//	         byte after this field: a bit flipped anywhere in the record,
//	         or a record filed under another id, fails it
//	varint   time, Unix nanoseconds
//	uvarint  len(name), then name
//	rest     data (compact JSON)
//
// Version 1, written before, is the same without the checksum and is
// still read.
const (
	recordVersion   = 2
	recordVersionV1 = 1
)

var (
	errCorrupt  = errors.New("corrupt record")
	castagnoli  = crc32.MakeTable(crc32.Castagnoli)
	errChecksum = fmt.Errorf("%w: checksum mismatch", errCorrupt)
)

// encodeRecord appends id's record to dst.
func encodeRecord(dst []byte, id ID, unixNano int64, name string, data []byte) []byte {
	dst = append(dst, recordVersion, 0, 0, 0, 0)
	start := len(dst)
	dst = binary.AppendVarint(dst, unixNano)
	dst = binary.AppendUvarint(dst, uint64(len(name)))
	dst = append(dst, name...)
	dst = append(dst, data...)
	sum := crc32.Update(crc32.Checksum(id[:], castagnoli), castagnoli, dst[start:])
	binary.BigEndian.PutUint32(dst[start-4:start], sum)
	return dst
}

// decodeRecord parses the value stored under key k. The returned data
// aliases v; callers copy it before the transaction ends.
func decodeRecord(k, v []byte) (unixNano int64, name string, data []byte, err error) {
	switch {
	case len(v) == 0:
		return 0, "", nil, fmt.Errorf("decode record: %w: empty", errCorrupt)
	case v[0] == recordVersion:
		if len(v) < 5 {
			return 0, "", nil, fmt.Errorf("decode record: %w: checksum cut short", errCorrupt)
		}
		body := v[5:]
		if crc32.Update(crc32.Checksum(k, castagnoli), castagnoli, body) != binary.BigEndian.Uint32(v[1:5]) {
			return 0, "", nil, fmt.Errorf("decode record: %w", errChecksum)
		}
		v = body
	case v[0] == recordVersionV1:
		v = v[1:]
	default:
		return 0, "", nil, fmt.Errorf("decode record: %w: version %d", errCorrupt, v[0])
	}
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
