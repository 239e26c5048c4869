package eventlog

import "time"

// Two clocks. Ids and event times follow the wall clock (Options.Now), kept
// increasing by the id generator. Ageing — retention by age, the
// idempotency window — follows the ageing clock: the time at Open plus the
// time elapsed since on a monotonic clock, so a step of the wall clock
// within a run (a year ahead, or back) neither deletes events nor expires
// keys early, and time that really passes still ages them.
//
// Across a restart the elapsed time is unknown, so the ageing clock starts
// at the wall clock, checked against the newest event on disk: a wall
// clock behind it is raised to it (time has passed at least that far); one
// more than MaxClockJump ahead of it is not trusted (it would age every
// event and key at once) and the clock starts at the newest event instead.
// Both are logged. A server that really was down longer than MaxClockJump
// keeps its events and keys that much longer than their limits: the safe
// side. An idempotency key is also held live by the wall clock (its
// event id's time): a key stored while the ageing clock ran behind real
// time must not look older after a restart (idemLive).

// startClock sets the ageing clock at Open; newest is the newest id on
// disk.
func (l *Log) startClock(newest ID) {
	l.now0 = l.opts.Now()
	l.anchor = l.now0
	if newest == ZeroID {
		return
	}
	last := time.UnixMilli(int64(newest.Time()))
	switch off := l.now0.Sub(last); {
	case off < -time.Minute:
		l.log.Warn("the wall clock is behind the newest event: ids continue after it, and events and idempotency keys age from it",
			"path", l.path, "behind", (-off).Round(time.Second), "newest_event_time", last.UTC())
		l.anchor = last
	case off > l.opts.MaxClockJump:
		l.log.Warn("the wall clock is far ahead of the newest event (a wrong clock, or a long downtime): events and idempotency keys age from the newest event, not from the wall clock, so nothing is deleted at once",
			"path", l.path, "ahead", off.Round(time.Second), "newest_event_time", last.UTC(), "max_clock_jump", l.opts.MaxClockJump)
		l.anchor = last
	}
}

// ageNow reads the ageing clock.
func (l *Log) ageNow() time.Time {
	if l.opts.Elapsed != nil {
		return l.anchor.Add(l.opts.Elapsed())
	}
	// time.Now's readings carry the monotonic clock, and Sub uses it.
	return l.anchor.Add(l.opts.Now().Sub(l.now0))
}
