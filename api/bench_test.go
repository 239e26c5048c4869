package api

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"testing"
)

// BenchmarkDecodePublish is the per-request cost of validating a body.
func BenchmarkDecodePublish(b *testing.B) {
	body := []byte(`{"event":"notification","data":{"text":"Your order #1234 shipped","url":"/orders/1234","items":[1,2,3],"n":{"a":true}}}`)
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := decodePublish(body); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeBatch decodes and validates a batch of 1,000 events of
// about 200 bytes, the batch route's CPU cost before the commit.
func BenchmarkDecodeBatch(b *testing.B) {
	var body bytes.Buffer
	body.WriteByte('[')
	for i := range 1000 {
		if i > 0 {
			body.WriteByte(',')
		}
		fmt.Fprintf(&body, `{"user":"u%d","event":"notification","data":{"text":"Your order #%d shipped","url":"/orders/%d","pad":"%0120d"}}`, i%100, i, i, i)
	}
	body.WriteByte(']')
	b.ReportAllocs()
	b.SetBytes(int64(body.Len()))
	for b.Loop() {
		if _, err := decodeBatch(body.Bytes(), 65536); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1000, "ns/event")
}

// BenchmarkPublishHTTP is a durable publish end to end over loopback:
// decode, validate, group commit with fsync, 201. Parallel callers share
// commits.
func BenchmarkPublishHTTP(b *testing.B) {
	a := newTestAPI(b, withKeys)
	body := []byte(`{"event":"notification","data":{"text":"hello"}}`)
	hc := a.TS.Client()
	hc.Transport.(*http.Transport).MaxIdleConnsPerHost = 256
	b.ReportAllocs()
	b.SetParallelism(16)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req, _ := http.NewRequest(http.MethodPost, a.URL+"/v1/users/alice/events", bytes.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+testKey)
			resp, err := hc.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode != http.StatusCreated {
				b.Errorf("status %d", resp.StatusCode)
				return
			}
		}
	})
}
