// Package bench is sselog's load tool, `sselog bench`: it drives a running
// server over HTTP on loopback and reports what an operator asks before
// trusting it — publish throughput and ack latency, fan-out latency with
// every delivery verified, resume time to first event in a long log, and
// server memory per idle connection.
//
// Every figure can be put beside a ceiling measured in the same run
// (--ceiling): a no-op server with the same routes answered from memory,
// started as a child process so it does not share the client's runtime,
// showing what this machine and this client allow without storage.
//
// Connections come from source addresses spread over 127.0.0.0/8, so tens
// of thousands of them never run out of ephemeral ports, and the
// connections scenario spreads its clients over child processes when one
// process's open-file limit is too small. Every wait is bounded; targets
// off loopback are refused.
package bench
