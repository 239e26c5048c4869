package eventlog

import (
	"testing"
	"time"
)

// When the entropy of the last id is all ones, the next id in the same
// millisecond moves to the next millisecond instead of wrapping.
func TestGeneratorEntropyOverflow(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	var last ID
	if err := last.SetTime(uint64(now.UnixMilli())); err != nil {
		t.Fatal(err)
	}
	for i := 6; i < len(last); i++ {
		last[i] = 0xff
	}
	g := newGenerator(last)
	next := g.next(now)
	if next.Compare(last) <= 0 {
		t.Fatalf("next %s not after %s", next, last)
	}
	if next.Time() != last.Time()+1 {
		t.Fatalf("next %s at %d ms, want %d", next, next.Time(), last.Time()+1)
	}
	if again := g.next(now); again.Compare(next) <= 0 {
		t.Fatalf("%s not after %s", again, next)
	}
}

// A fresh millisecond starts with entropy below half, leaving room to
// count up within it.
func TestGeneratorLeavesRoom(t *testing.T) {
	g := newGenerator(ID{})
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for i := range 1000 {
		id := g.next(now.Add(time.Duration(i) * time.Millisecond))
		if id[6]&0x80 != 0 {
			t.Fatalf("id %s uses the top entropy bit", id)
		}
	}
	// A clock before 1970 still yields increasing ids.
	a := g.next(time.Unix(-10, 0))
	b := g.next(time.Unix(-20, 0))
	if b.Compare(a) <= 0 {
		t.Fatalf("%s not after %s", b, a)
	}
}
