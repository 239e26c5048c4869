package eventlog_test

import (
	"context"
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
