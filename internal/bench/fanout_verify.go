package bench

import (
	"time"
)

// fanSub is one fan-out subscriber. Only its reading goroutine touches
// it until the readers are done.
type fanSub struct {
	conn     *streamConn
	seen     []uint64 // bit k: event k arrived
	lastID   string
	got      int64
	dups     int64 // an event that arrived twice
	disorder int64 // an id not above the one before it
	foreign  int64 // data without our stamp, or a stamp out of range
	gaps     int64
	err      error // the stream ended before the run closed it
}

// read consumes a subscriber's stream until it ends, checking order and
// duplicates as events arrive.
func (f *fanout) read(s *fanSub) {
	defer s.conn.Close()
	for {
		m, err := s.conn.Next()
		if err != nil {
			if !f.closing.Load() {
				s.err = err
			}
			return
		}
		now := time.Now()
		switch m.Event {
		case eventName:
		case "gap":
			s.gaps++
			continue
		default:
			continue
		}
		t, k, ok := stamp(m.Data)
		if !ok || k < 0 || k >= int64(len(f.status)) {
			s.foreign++
			continue
		}
		f.lat.Record(now.Sub(time.Unix(0, t)))
		if m.ID <= s.lastID {
			s.disorder++
		}
		s.lastID = m.ID
		if s.seen[k/64]&(1<<(k%64)) != 0 {
			s.dups++ // counted once as delivered, so the drain still waits for the rest
			continue
		}
		s.seen[k/64] |= 1 << (k % 64)
		s.got++
		f.delivered.Add(1)
		f.lastDelivery.Store(now.UnixNano())
	}
}

// verify compares what each subscriber got with what was acknowledged
// for it and records every discrepancy as a failure.
func (f *fanout) verify(r *result, want int64, drained bool) {
	var lost, dups, disorder, misrouted, foreign, gaps, streamErrs int64
	var firstErr error
	for j, s := range f.subs {
		dups += s.dups
		disorder += s.disorder
		foreign += s.foreign
		gaps += s.gaps
		if s.err != nil {
			streamErrs++
			if firstErr == nil {
				firstErr = s.err
			}
		}
		for k, st := range f.status {
			has := s.seen[k/64]&(1<<(k%64)) != 0
			meant := f.meant(int64(k), j)
			switch {
			case st == statusAcked && meant && !has:
				lost++
			case has && !meant:
				misrouted++
			}
		}
	}
	r.add("lost", "lost", float64(lost), unitCount)
	r.add("duplicated", "duplicated", float64(dups), unitCount)
	r.add("out_of_order", "out of order", float64(disorder), unitCount)
	r.add("publish_errors", "failed publishes", float64(f.pubErrs.count()), unitCount)
	if lost > 0 {
		r.fail("%d of %d deliveries lost (drained: %v)", lost, want, drained)
	}
	if dups > 0 {
		r.fail("%d deliveries duplicated", dups)
	}
	if disorder > 0 {
		r.fail("%d deliveries out of id order", disorder)
	}
	if misrouted > 0 {
		r.fail("%d deliveries reached a subscriber they were not meant for", misrouted)
	}
	if foreign > 0 {
		r.fail("%d events without this run's stamp", foreign)
	}
	if gaps > 0 {
		r.fail("%d gap events on live streams", gaps)
	}
	if streamErrs > 0 {
		r.fail("%d streams ended early, first: %v", streamErrs, firstErr)
	}
	if n := f.pubErrs.count(); n > 0 {
		r.fail("%d publishes failed, first: %s", n, f.pubErrs.String())
	}
}
