package api

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
)

// The fast path must decode exactly what encoding/json decodes.
func TestJSONString(t *testing.T) {
	for _, raw := range []string{`"alice"`, `""`, `"\u0061lice"`, `"a\"b"`, `"a\\b"`, `"é"`, `"a\nb"`} {
		var want string
		require.NoError(t, json.Unmarshal([]byte(raw), &want))
		got, err := jsonString(json.RawMessage(raw))
		require.NoError(t, err, raw)
		require.Equal(t, want, got, raw)
	}
	// null decodes to "" as encoding/json does; callers refuse an empty user or name.
	for _, raw := range []string{`1`, `{}`, `["a"]`, `true`} {
		_, err := jsonString(json.RawMessage(raw))
		require.Error(t, err, raw)
	}
}
