package browser

import (
	"context"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestRunUnreachable checks the harness end to end without a server: Chromium starts, the page
// loads, and a participant pointed at a closed port is reported as not connected.
func TestRunUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	res, err := Run(ctx, Spec{
		URL:              "ws://127.0.0.1:" + strconv.Itoa(port),
		Participants:     []Participant{{Identity: "a", Token: "not-a-token"}},
		DurationMs:       1000,
		ConnectTimeoutMs: 10000,
	})
	if err == nil {
		t.Fatalf("Run succeeded against a closed port: %+v", res)
	}
	if !strings.Contains(err.Error(), "could not connect") {
		t.Fatalf("unexpected error: %v", err)
	}
	if res == nil {
		t.Fatalf("no report with the error: %v", err)
	}
	p := res.Participant("a")
	if p == nil || p.Connected {
		t.Fatalf("participant a: %+v", p)
	}
	if len(p.SignalSockets) == 0 || p.SignalSockets[0].Path != "/rtc/v1" {
		t.Fatalf("expected a websocket to /rtc/v1 first, got %+v", p.SignalSockets)
	}
	if len(p.Errors) == 0 {
		t.Fatal("no errors reported")
	}
	for _, line := range append(p.Console, p.Errors...) {
		if strings.Contains(line, "not-a-token") {
			t.Fatalf("token not redacted: %s", line)
		}
	}
}

func TestDir(t *testing.T) {
	dir, err := Dir()
	if err != nil || !strings.HasSuffix(dir, "browser") {
		t.Fatalf("Dir() = %q, %v", dir, err)
	}
}
