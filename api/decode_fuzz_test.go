package api

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// decodeSeeds are bodies at the edges of the grammar and of the envelope,
// shared by the table test and the fuzz corpus.
var decodeSeeds = []string{
	`{"event":"notification","data":{"text":"hi"}}`,
	`{"data":null}`, `{"data":1}`, ` { "data" : [ 1 , 2 ] , "event" : "a" } `,
	`{"data":"a b\n"}`, "{\"data\":{\"k\" :\t\"v v\"}\r\n}",
	`{"data":"\u00e9\ud83d\ude00\"\\\/\b\f\n\r\t"}`, `{"data":"\ud800"}`,
	`{"event":"n\u0061me","data":1}`, `{"event":"message","data":1}`, `{"event":"error","data":1}`,
	`{"event":null,"data":1}`, `{"event":1,"data":1}`, `{"event":"","data":1}`,
	`{"user":"alice","data":1}`, `{"data":1,"extra":2}`, `{}`, `[]`, `null`, `1`, `"s"`,
	`{"data":1}{"data":2}`, `{"data":1} x`, `{"data":1`, `{"data":}`, `{"data":1,}`, `{,"data":1}`,
	`{"data":01}`, `{"data":-}`, `{"data":1.}`, `{"data":.5}`, `{"data":1e}`, `{"data":1e+}`,
	`{"data":-0.5e-3}`, `{"data":1E400}`, `{"data":-1e999}`, `{"data":1e-999}`,
	`{"data":123456789012345678901234567890}`, `{"data":1` + strings.Repeat("0", 400) + `}`,
	`{"data":tru}`, `{"data":truex}`, `{"data":nul}`, `{"data":[true,false,null]}`,
	`{"data":"\x01"}`, `{"data":"\u12"}`, `{"data":"\q"}`, "{\"data\":\"\xff\"}",
	`{"data":1,"data":2}`, `{"data":1,"d\u0061ta":2}`, `{"data":{"a":{"b":1,"b":2}}}`,
	`{"data":[{"k":1},{"k":2}]}`, `{"data":{"a":1,"b":2,"c":3,"d":4,"e":5,"f":6,"g":7,"h":8,"i":9,"j":10,"k":11,"l":12,"m":13,"n":14,"o":15,"p":16,"q":17,"a":18}}`,
	`{"data":` + strings.Repeat("[", 63) + strings.Repeat("]", 63) + `}`,
	`{"data":` + strings.Repeat("[", 64) + strings.Repeat("]", 64) + `}`,
	`[{"user":"alice","data":1},{"data":2,"event":"x"}]`, `[{"user":"a b","data":1}]`, `[{"user":1,"data":1}]`,
	`[{"user":null,"data":1}]`, `[null]`, `[1]`, `[{"data":1},]`, `[{"user":"alice","user":"bob","data":1}]`,
	// A NUL after the value is a byte, not the end of the body.
	"{\"data\":1}\x00", "{\"data\":1} \x00{\"data\":2}", "[{\"user\":\"alice\",\"data\":1}]\x00]]]",
}

// TestDecodeAgainstReference: the one-pass reader and the encoding/json
// decoder it replaced agree on every seed.
func TestDecodeAgainstReference(t *testing.T) {
	for _, body := range decodeSeeds {
		sameAsReference(t, []byte(body))
	}
}

// FuzzDecodeAgainstReference: for any body, the publish and batch
// decoders accept exactly what the encoding/json-based reference accepts,
// return the same events (data compacted alike), and refuse with the same
// status. Seeds live in testdata/fuzz/FuzzDecodeAgainstReference.
func FuzzDecodeAgainstReference(f *testing.F) {
	for _, s := range decodeSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(sameAsReference)
}

func sameAsReference(t *testing.T, body []byte) {
	got, err := decodePublish(body)
	want, wantErr := refDecodePublish(body)
	require.Equal(t, wantErr == nil, err == nil, "publish %q: got %v, reference %v", body, err, wantErr)
	if err != nil {
		require.Equal(t, statusOf(wantErr), statusOf(err), "publish %q: got %v, reference %v", body, err, wantErr)
	} else {
		require.Equal(t, want, got, "publish %q", body)
	}
	gotB, err := decodeBatch(body, 64<<10)
	wantB, wantErr := refDecodeBatch(body, 64<<10)
	require.Equal(t, wantErr == nil, err == nil, "batch %q: got %v, reference %v", body, err, wantErr)
	if err != nil {
		require.Equal(t, statusOf(wantErr), statusOf(err), "batch %q: got %v, reference %v", body, err, wantErr)
	} else {
		require.Equal(t, wantB, gotB, "batch %q", body)
	}
}
