package eventlog

import (
	"bytes"
	"math"
	"testing"
)

func FuzzRecord(f *testing.F) {
	f.Add(int64(0), "", []byte(`null`))
	f.Add(int64(1767225600000000000), "notification", []byte(`{"title":"hi","n":1}`))
	f.Add(int64(-1), "a:b.c-d_e", []byte(`"é\u2028"`))
	f.Add(int64(math.MaxInt64), string(bytes.Repeat([]byte("n"), MaxNameLen)), []byte(`[1,2,3]`))
	f.Add(int64(math.MinInt64), "x", []byte{})
	f.Fuzz(func(t *testing.T, ns int64, name string, data []byte) {
		rec := encodeRecord(nil, testID, ns, name, data)
		gotNS, gotName, gotData, err := decodeRecord(testID[:], rec)
		if err != nil {
			t.Fatalf("decode(encode(%d, %q, %q)): %v", ns, name, data, err)
		}
		if gotNS != ns || gotName != name || !bytes.Equal(gotData, data) {
			t.Fatalf("round trip: got (%d, %q, %q), want (%d, %q, %q)", gotNS, gotName, gotData, ns, name, data)
		}
		// Appending to a buffer that holds other records leaves them alone.
		prefix := []byte("previous record")
		both := encodeRecord(bytes.Clone(prefix), testID, ns, name, data)
		if !bytes.Equal(both[:len(prefix)], prefix) || !bytes.Equal(both[len(prefix):], rec) {
			t.Fatalf("encode into a used buffer changed it")
		}
		// Arbitrary bytes (the record as a byte string) never panic, and
		// what decodes re-encodes to something that decodes the same.
		checkDecode(t, data)
		checkDecode(t, rec[:len(rec)/2])
	})
}

func checkDecode(t *testing.T, v []byte) {
	ns, name, data, err := decodeRecord(testID[:], v)
	if err != nil {
		return
	}
	ns2, name2, data2, err := decodeRecord(testID[:], encodeRecord(nil, testID, ns, name, data))
	if err != nil || ns2 != ns || name2 != name || !bytes.Equal(data2, data) {
		t.Fatalf("decode(%x) = (%d, %q, %q) does not survive a re-encode: (%d, %q, %q, %v)", v, ns, name, data, ns2, name2, data2, err)
	}
}

// A value that is not a record is reported as corrupt, not misread.
func TestDecodeRecordRejects(t *testing.T) {
	for _, v := range [][]byte{
		nil,
		{},
		{3, 0, 0},                      // unknown version
		{recordVersionV1},              // no time
		{recordVersionV1, 0x80},        // truncated varint
		{recordVersionV1, 0, 5, 'a'},   // name longer than the rest
		{recordVersionV1, 0, 0x80},     // truncated name length
		{recordVersion, 1, 2},          // checksum cut short
		{recordVersion, 0, 0, 0, 0, 0}, // checksum of another record
		append([]byte{recordVersionV1}, bytes.Repeat([]byte{0xff}, 11)...), // varint overflow
	} {
		if _, _, _, err := decodeRecord(testID[:], v); err == nil {
			t.Errorf("decodeRecord(%x) accepted a corrupt value", v)
		}
	}
}

var testID = ID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}

// Every bit of a record, and its key, is covered by the checksum.
func TestRecordChecksumCoversEveryBit(t *testing.T) {
	rec := encodeRecord(nil, testID, 1767225600000000000, "note", []byte(`{"a":1}`))
	for i := range rec {
		for bit := range 8 {
			v := bytes.Clone(rec)
			v[i] ^= 1 << bit
			if _, _, _, err := decodeRecord(testID[:], v); err == nil {
				t.Fatalf("bit %d of byte %d flipped: accepted", bit, i)
			}
		}
	}
	other := testID
	other[15]++
	if _, _, _, err := decodeRecord(other[:], rec); err == nil {
		t.Fatal("a record under another key: accepted")
	}
}
