// Package api is sselog's HTTP surface: routes (httprouter), auth,
// validation and limits, JSON errors, Prometheus metrics, health, and the
// embedded browser client.
//
// What it guarantees on top of the log and the streams:
//
//   - A publish is answered 201 {"id"} only after the event's commit is
//     on disk; an Idempotency-Key makes a retry return the first id.
//   - Bad input changes nothing: every refused request is answered with a
//     4xx and a JSON {"error": "..."} body before anything is stored. Event
//     names match [A-Za-z0-9_.:-]{1,128} and are not one of the server's
//     own (connected, gap, error, open); user ids match
//     [A-Za-z0-9._:@-]{1,128} and are not "." or ".."; data is one valid
//     JSON value in valid UTF-8, nested at most 64 levels, and is stored
//     compacted to one line.
//   - Publish and admin routes need the publisher key as a Bearer token;
//     stream and history routes need an HS256 subscriber token whose sub
//     is the user in the path. Missing credentials answer 401, present
//     but refused ones (wrong key, bad signature or algorithm, expired,
//     another user's) 403. With neither key configured the server is open
//     and trusts the path, which the binary allows only on loopback.
//   - Store failures other than a refused event (closing, a full disk)
//     answer 503 with a terse body; details are logged once.
package api
