package jetlog

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Every character a user id may hold maps to subject-safe bytes, the
// mapping is injective (no two ids share a token) and reversible.
func TestEncodeUserInjective(t *testing.T) {
	allowed := "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._:@-"
	ids := map[string]bool{allowed: true, "": true}
	for i := range len(allowed) {
		for j := range len(allowed) {
			ids[allowed[i:i+1]+allowed[j:j+1]] = true
		}
	}
	for _, s := range []string{"a.b", "a_db", "a_d", "_", "__", "_x2e", ".x2e", "a:b@c.d", "user@example.com", "tenant:42.user",
		"a b", "a*b", "a>b", "ü", "a\x00", "a_", "a_x", "a_xz"} {
		ids[s] = true
	}
	tokens := map[string]string{}
	for id := range ids {
		tok := EncodeUser(id)
		for k := 0; k < len(tok); k++ {
			c := tok[k]
			ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_'
			require.True(t, ok, "token %q of %q holds %q", tok, id, c)
		}
		if prev, dup := tokens[tok]; dup {
			t.Fatalf("%q and %q share token %q", prev, id, tok)
		}
		tokens[tok] = id
		back, err := DecodeUser(tok)
		require.NoError(t, err)
		require.Equal(t, id, back)
	}
	for _, tc := range []struct{ in, want string }{
		{"a.b", "a_db"}, {"a:b", "a_cb"}, {"a@b", "a_ab"}, {"a_b", "a__b"}, {"a-b", "a-b"}, {"a b", "a_x20b"},
	} {
		assert.Equal(t, tc.want, EncodeUser(tc.in))
	}
	for _, bad := range []string{"_", "a_", "_q", "_x2", "_xzz", "a.b", "a*"} {
		_, err := DecodeUser(bad)
		assert.Error(t, err, "%q", bad)
	}
}

func TestSubjectsOwner(t *testing.T) {
	s := subjects{"SSELOG"}
	for _, u := range []string{"", "a", "a.b:c@d-e_f"} {
		got, ok := s.owner(s.user(u))
		require.True(t, ok)
		assert.Equal(t, u, got)
	}
	assert.Equal(t, "SSELOG.u.a_db", s.user("a.b"))
	assert.Equal(t, 2, strings.Count(s.user("x.y.z"), "."), "dots in a user id add no token")
	for _, bad := range []string{"OTHER.b", "SSELOG.u.", "SSELOG.x.a", "SSELOG.u.a_q"} {
		_, ok := s.owner(bad)
		assert.False(t, ok, bad)
	}
}

// Ids sort by stream sequence whatever the publish times say, carry the
// publish time in bytes 8-13, and parse back to their sequence.
func TestIDOrderAndSequence(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	a := makeID(41, t0)
	b := makeID(42, t0.Add(-time.Hour)) // a leader with a slow clock
	c := makeID(43, t0.Add(time.Hour))
	assert.Negative(t, a.Compare(b))
	assert.Negative(t, b.Compare(c))
	assert.Equal(t, uint64(42), seqOf(b))
	assert.Equal(t, t0.Add(-time.Hour).UnixMilli(), idTime(b).UnixMilli())
	assert.Len(t, b.String(), 26)
	assert.Zero(t, seqOf(makeID(0, time.Time{})))
}
