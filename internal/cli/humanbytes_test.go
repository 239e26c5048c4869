package cli

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestHumanBytes(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 24576: "24.0 KiB", 13<<20 + 1<<19: "13.5 MiB", 3 << 30: "3.0 GiB"} {
		assert.Equal(t, want, humanBytes(n), n)
	}
}
