package jetlog

import (
	"errors"
	"strings"
)

// EncodeUser maps a user id to one NATS subject token. The encoding is
// injective and reversible (DecodeUser), and its output holds only
// [A-Za-z0-9_-], so no user id can add a token, a wildcard or anything a
// subject-based permission might treat specially:
//
//	A-Z a-z 0-9 -   themselves
//	_               "__"
//	.               "_d"
//	:               "_c"
//	@               "_a"
//	any other byte  "_x" and two lowercase hex digits
//
// Every escape starts with '_' and its length is fixed by the letter after
// it, so decoding is unambiguous. The empty user (broadcast) has no token.
func EncodeUser(user string) string {
	var b strings.Builder
	b.Grow(len(user) + 4)
	const hex = "0123456789abcdef"
	for i := 0; i < len(user); i++ {
		c := user[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-':
			b.WriteByte(c)
		case c == '_':
			b.WriteString("__")
		case c == '.':
			b.WriteString("_d")
		case c == ':':
			b.WriteString("_c")
		case c == '@':
			b.WriteString("_a")
		default:
			b.WriteString("_x")
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&15])
		}
	}
	return b.String()
}

var errBadToken = errors.New("not a user token")

// DecodeUser reverses EncodeUser.
func DecodeUser(tok string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(tok); i++ {
		c := tok[i]
		if c != '_' {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return "", errBadToken
			}
			b.WriteByte(c)
			continue
		}
		if i+1 >= len(tok) {
			return "", errBadToken
		}
		i++
		switch tok[i] {
		case '_':
			b.WriteByte('_')
		case 'd':
			b.WriteByte('.')
		case 'c':
			b.WriteByte(':')
		case 'a':
			b.WriteByte('@')
		case 'x':
			if i+2 >= len(tok) {
				return "", errBadToken
			}
			hi, lo := unhex(tok[i+1]), unhex(tok[i+2])
			if hi < 0 || lo < 0 {
				return "", errBadToken
			}
			b.WriteByte(byte(hi<<4 | lo))
			i += 2
		default:
			return "", errBadToken
		}
	}
	return b.String(), nil
}

func unhex(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	}
	return -1
}

// subjects names the subjects of one stream.
type subjects struct{ prefix string }

func (s subjects) user(u string) string {
	if u == "" {
		return s.prefix + ".b"
	}
	return s.prefix + ".u." + EncodeUser(u)
}

func (s subjects) all() string { return s.prefix + ".>" }

// owner returns the user a subject belongs to ("" for broadcast).
func (s subjects) owner(subj string) (string, bool) {
	rest, ok := strings.CutPrefix(subj, s.prefix+".")
	if !ok {
		return "", false
	}
	if rest == "b" {
		return "", true
	}
	tok, ok := strings.CutPrefix(rest, "u.")
	if !ok || tok == "" {
		return "", false
	}
	u, err := DecodeUser(tok)
	return u, err == nil
}
