package cli

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sselog/sselog/internal/testkit"
)

// Keys long enough for the server.
const (
	goodKey    = "0123456789abcdef0123456789abcdef-publisher"
	goodSecret = "0123456789abcdef0123456789abcdef-subscriber"
)

// TestKeysRefusedWhenWeak: a key or secret under 32 bytes is refused at
// start with a message saying how to make one; surrounding whitespace (a
// key read from a file with its newline) is trimmed, as the server trims
// the Authorization header, rather than breaking every publish.
func TestKeysRefusedWhenWeak(t *testing.T) {
	cases := []struct {
		name string
		env  []string
		says string // "" = accepted
	}{
		{"1-byte secret", []string{"SSELOG_PUBLISHER_KEY=" + goodKey, "SSELOG_SUBSCRIBER_SECRET=s"}, "openssl rand -hex 32"},
		{"31-byte key", []string{"SSELOG_PUBLISHER_KEY=" + strings.Repeat("k", 31), "SSELOG_SUBSCRIBER_SECRET=" + goodSecret}, "at least 32 bytes"},
		{"short once trimmed", []string{"SSELOG_PUBLISHER_KEY=" + strings.Repeat("k", 20) + strings.Repeat(" ", 20), "SSELOG_SUBSCRIBER_SECRET=" + goodSecret}, "at least 32 bytes"},
		{"inner whitespace", []string{"SSELOG_PUBLISHER_KEY=" + goodKey + " x", "SSELOG_SUBSCRIBER_SECRET=" + goodSecret}, "whitespace"},
		{"good", []string{"SSELOG_PUBLISHER_KEY=" + goodKey, "SSELOG_SUBSCRIBER_SECRET=" + goodSecret}, ""},
		{"trailing newline trimmed", []string{"SSELOG_PUBLISHER_KEY=" + goodKey + "\n", "SSELOG_SUBSCRIBER_SECRET=" + goodSecret + "\r\n"}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := parseServeConfig([]string{"--addr", "127.0.0.1:0"}, testkit.Env(c.env...), &bytes.Buffer{})
			if c.says != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), c.says)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, goodKey, cfg.PublisherKey)
			assert.Equal(t, goodSecret, cfg.SubscriberSecret)
		})
	}
}
