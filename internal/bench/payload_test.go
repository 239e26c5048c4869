package bench

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestAppendData(t *testing.T) {
	for _, size := range []int{0, 10, 40, 41, 200, 4096} {
		b := appendData(nil, 1712345678901234567, 42, size)
		require.True(t, json.Valid(b), "%s", b)
		if size >= 60 {
			assert.Len(t, b, size)
		}
		ts, seq, ok := stamp(string(b))
		require.True(t, ok)
		assert.Equal(t, int64(1712345678901234567), ts)
		assert.Equal(t, int64(42), seq)
	}
}

func TestStampRejects(t *testing.T) {
	for _, data := range []string{``, `{}`, `{"t":1}`, `{"t":x,"seq":1}`, `{"t":1,"seq":}`, `{"t":1,"seq":2`, `"str"`} {
		_, _, ok := stamp(data)
		assert.False(t, ok, data)
	}
}

func TestAppendEvent(t *testing.T) {
	var v struct {
		User  string          `json:"user"`
		Event string          `json:"event"`
		Data  json.RawMessage `json:"data"`
	}
	require.NoError(t, json.Unmarshal(appendEvent(nil, "u-1", 1, 2, 100), &v))
	assert.Equal(t, "u-1", v.User)
	assert.Equal(t, eventName, v.Event)
	assert.Len(t, v.Data, 100)
	b := appendEvent(nil, "", 1, 2, 100)
	assert.False(t, strings.Contains(string(b), `"user"`))
}

func BenchmarkStamp(b *testing.B) {
	data := string(appendData(nil, 1712345678901234567, 42, 200))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, ok := stamp(data); !ok {
			b.Fatal("no stamp")
		}
	}
}
