// Package sse is the Server-Sent Events wire format on its own: a
// formatter that refuses any field that would break or inject into the
// framing (an id or event name with CR, LF or NUL, a name outside
// [A-Za-z0-9_.:-]{1,128}), and a Parser that follows the WHATWG rules a
// browser's EventSource applies, so that Parse(Format(m)) == m.
//
// It imports no other package of this module: the server, the Go client,
// the load tool and the tests all read and write events through it.
package sse
