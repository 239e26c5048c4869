package api

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// FuzzPublishBody: the publish decoder never panics, refuses with a 4xx,
// and what it accepts is exactly a valid event: an object of event/data
// only, a valid unreserved name, and data stored as the compact form of
// the given JSON value. Seeds live in testdata/fuzz/FuzzPublishBody.
func FuzzPublishBody(f *testing.F) {
	f.Add([]byte(`{"event":"notification","data":{"text":"hi"}}`))
	f.Add([]byte(`{"data":null}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		in, err := decodePublish(body)
		if err != nil {
			if s := statusOf(err); s != http.StatusBadRequest && s != http.StatusRequestEntityTooLarge {
				t.Fatalf("refusal with status %d: %v", s, err)
			}
			return
		}
		if !utf8.Valid(body) || !json.Valid(body) || tooDeep(body, maxDepth) {
			t.Fatalf("accepted a body that is not bounded valid JSON: %q", body)
		}
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(body, &obj); err != nil {
			t.Fatalf("accepted a non-object: %q", body)
		}
		for k := range obj {
			if k != "event" && k != "data" {
				t.Fatalf("accepted unknown field %q", k)
			}
		}
		var compact bytes.Buffer
		if err := json.Compact(&compact, obj["data"]); err != nil || !bytes.Equal(compact.Bytes(), in.Data) {
			t.Fatalf("stored data %q is not the compact form of %q", in.Data, obj["data"])
		}
		if bytes.ContainsAny(in.Data, "\r\n") {
			t.Fatalf("stored data spans lines: %q", in.Data)
		}
		if in.Name != "" {
			if n, err := checkEventName(in.Name); err != nil || n != in.Name {
				t.Fatalf("accepted event name %q", in.Name)
			}
		}
		if in.User != "" || in.IdempotencyKey != "" {
			t.Fatalf("the body set routing fields: %+v", in)
		}
	})
}

// FuzzToken: the token parser never panics and accepts only HS256 tokens
// whose subject is a valid user id. Seeds live in testdata/fuzz/FuzzToken.
func FuzzToken(f *testing.F) {
	now := time.Unix(1_800_000_000, 0)
	good, err := IssueToken(testSecret, "alice", time.Hour, now)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add("eyJhbGciOiJub25lIn0.e30.")
	f.Fuzz(func(t *testing.T, tok string) {
		user, _, err := parseToken(tokenRules{secret: []byte(testSecret)}, tok, now)
		if err != nil {
			if statusOf(err) != http.StatusUnauthorized {
				t.Fatalf("refusal with status %d: %v", statusOf(err), err)
			}
			return
		}
		if checkUser(user) != nil {
			t.Fatalf("accepted subject %q", user)
		}
		head, _, _ := strings.Cut(tok, ".")
		raw, err := base64.RawURLEncoding.DecodeString(head)
		if err != nil {
			t.Fatalf("accepted a token whose header is not base64url: %q", tok)
		}
		var h struct{ Alg string }
		if json.Unmarshal(raw, &h) != nil || h.Alg != "HS256" {
			t.Fatalf("accepted alg %q", h.Alg)
		}
	})
}

// tooDeep is the fuzz oracle for nesting: an independent count of
// how deep the JSON text nests arrays and objects.
func tooDeep(b []byte, limit int) bool {
	depth := 0
	inString, escaped := false, false
	for _, c := range b {
		if inString {
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
			continue
		}
		switch c {
		case '"':
			inString = true
		case '[', '{':
			if depth++; depth > limit {
				return true
			}
		case ']', '}':
			depth--
		}
	}
	return false
}
