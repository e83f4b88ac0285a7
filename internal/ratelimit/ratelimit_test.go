package ratelimit

import (
	"testing"
	"time"
)

func TestLimiter(t *testing.T) {
	l := New(2, time.Second)
	now := time.Unix(0, 0)
	for i := range 2 {
		if ok, _ := l.Allow("a", now); !ok {
			t.Fatalf("request %d refused", i)
		}
	}
	ok, wait := l.Allow("a", now)
	if ok || wait != time.Second {
		t.Fatalf("third request: %v, wait %v", ok, wait)
	}
	if ok, _ := l.Allow("b", now); !ok {
		t.Fatal("another address was limited")
	}
	if ok, _ := l.Allow("a", now.Add(time.Second)); !ok {
		t.Fatal("not refilled after a period")
	}
	l.Allow("c", now.Add(10*time.Second))
	if len(l.buckets) != 1 {
		t.Errorf("%d buckets kept after they refilled", len(l.buckets))
	}
}
