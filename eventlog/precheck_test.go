package eventlog_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sselog/sselog/eventlog"
)

// A file damaged anywhere — cut short, or a byte flipped in any page —
// is opened or refused with an error; it never ends the process (bbolt
// would read past its mapping or fail an assertion in a goroutine of its
// own). Verify, which "sselog check" and "sselog backup" run, likewise.
func TestDamagedFileNeverCrashes(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.db")
	l, err := eventlog.Open(good, eventlog.Options{})
	require.NoError(t, err)
	for b := range 10 {
		batch := make([]eventlog.Input, 100)
		for i := range batch {
			batch[i] = eventlog.Input{User: fmt.Sprint("u", i%5), Data: jsonN(`{"b":%d,"i":%d,"pad":"0123456789012345678901234567890123456789"}`, b, i)}
		}
		_, err := l.AppendBatch(context.Background(), batch)
		require.NoError(t, err)
	}
	_, err = l.Compact(context.Background())
	require.NoError(t, err)
	require.NoError(t, l.Close())
	orig, err := os.ReadFile(good)
	require.NoError(t, err)

	seed, iterations := uint64(1), 120
	if v := os.Getenv("SSELOG_DAMAGE_SEED"); v != "" { // longer runs by hand
		_, _ = fmt.Sscan(v, &seed)
		iterations = 5000
	}
	rng := rand.New(rand.NewPCG(seed, 2))
	refused := 0
	for i := range iterations {
		b := append([]byte(nil), orig...)
		switch i % 3 {
		case 0: // cut short
			b = b[:rng.IntN(len(b)-1)+1]
		default: // flipped bits, in a page header more often than not
			at := rng.IntN(len(b))
			if i%3 == 1 {
				at = at/4096*4096 + rng.IntN(16)
			}
			b[at] ^= byte(1 + rng.IntN(255))
		}
		path := filepath.Join(dir, fmt.Sprintf("bad-%d.db", i))
		require.NoError(t, os.WriteFile(path, b, 0o600))
		if eventlog.Verify(path) != nil {
			refused++
		}
		if l, err := eventlog.Open(path, eventlog.Options{CompactInterval: -1, KeyExpiryInterval: -1}); err == nil {
			_ = l.Close()
		}
	}
	t.Logf("%d of %d damaged copies refused by Verify", refused, iterations)
	require.Positive(t, refused)
}

// TestInlineBucketCutToItsHeader: a bucket value cut to its 16-byte
// header (a few flipped bits in its size) is refused with an error. The
// start-up walk let it through, and bbolt's own scan then read past the
// value in a goroutine of its own and ended the process.
func TestInlineBucketCutToItsHeader(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sselog.db")
	l, err := eventlog.Open(path, eventlog.Options{})
	require.NoError(t, err)
	_, err = l.Append(context.Background(), eventlog.Input{User: "u", Data: []byte(`{"n":1}`)})
	require.NoError(t, err)
	_, err = l.Compact(context.Background()) // files the journal: the user gets an inline bucket
	require.NoError(t, err)
	require.NoError(t, l.Close())

	b, err := os.ReadFile(path)
	require.NoError(t, err)
	le := binary.LittleEndian
	patched := 0
	for o := 0; o+16 <= len(b); o++ {
		// A leaf element: flags bucket, pos, key size 1, value size; key
		// "u"; then the bucket header, root 0 (inline).
		if le.Uint32(b[o:]) != 1 || le.Uint32(b[o+8:]) != 1 {
			continue
		}
		pos, vsize := int(le.Uint32(b[o+4:])), int(le.Uint32(b[o+12:]))
		k := o + pos
		if pos < 16 || pos > 4096 || vsize <= 32 || vsize > 4096 || k+1+vsize > len(b) || b[k] != 'u' || le.Uint64(b[k+1:]) != 0 {
			continue
		}
		le.PutUint32(b[o+12:], 16)
		patched++
	}
	require.Positive(t, patched, "the user's inline bucket")
	require.NoError(t, os.WriteFile(path, b, 0o600))

	_, err = eventlog.Open(path, eventlog.Options{})
	require.ErrorContains(t, err, "inline bucket cut short")
	require.Error(t, eventlog.Verify(path))
}
