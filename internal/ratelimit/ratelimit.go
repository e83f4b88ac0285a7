// Package ratelimit slows clients that ask too often: a token bucket per client address, and the
// HTTP answer for one that is over (429 with Retry-After).
package ratelimit

import (
	"math"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Limiter is a token bucket per client address: burst requests at once, then one every per.
type Limiter struct {
	mu      sync.Mutex
	burst   float64
	per     time.Duration
	buckets map[string]*bucket
	swept   time.Time
}

type bucket struct {
	tokens float64
	at     time.Time
}

// New makes a limiter.
func New(burst int, per time.Duration) *Limiter {
	return &Limiter{burst: float64(burst), per: per, buckets: map[string]*bucket{}}
}

// Allow takes a token for key, or says how long until one is there.
func (l *Limiter) Allow(key string, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sweep(now)
	b := l.buckets[key]
	if b == nil {
		b = &bucket{tokens: l.burst, at: now}
		l.buckets[key] = b
	}
	b.tokens += float64(now.Sub(b.at)) / float64(l.per)
	if b.tokens > l.burst {
		b.tokens = l.burst
	}
	b.at = now
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	wait := time.Duration((1 - b.tokens) * float64(l.per))
	return false, wait
}

// sweep forgets buckets that have refilled, so the map stays as large as the recent clients.
func (l *Limiter) sweep(now time.Time) {
	full := time.Duration(l.burst * float64(l.per))
	if now.Sub(l.swept) < full {
		return
	}
	l.swept = now
	for k, b := range l.buckets {
		if now.Sub(b.at) >= full {
			delete(l.buckets, k)
		}
	}
}

// ClientIP is the address a request came from (the connection's peer).
func ClientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// Check takes a token for the request's client; when there is none it answers 429 with
// Retry-After (whole seconds, rounded up) and reports false.
func (l *Limiter) Check(w http.ResponseWriter, r *http.Request, now time.Time) bool {
	ok, wait := l.Allow(ClientIP(r), now)
	if !ok {
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
		http.Error(w, "too many requests", http.StatusTooManyRequests)
	}
	return ok
}

// RetryAfter is the Retry-After value for a wait.
func RetryAfter(wait time.Duration) string { return strconv.Itoa(int(math.Ceil(wait.Seconds()))) }
