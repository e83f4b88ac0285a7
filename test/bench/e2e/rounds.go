package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// runRounds loads one node with rounds of `hop loadtest` (publishers and subscribers join, stay
// for d, leave) and prints, after each round's rooms have closed, the node's goroutines and its
// live heap after a collection: a node that hosts meetings all day must come back to where it
// started.
func runRounds(bin string, rounds, pubs, subs int, d time.Duration) error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("needs root (it creates a network namespace)")
	}
	abs, err := filepath.Abs(bin)
	if err != nil {
		return err
	}
	ns := fmt.Sprintf("hopbench-%d", os.Getpid())
	cleanup, err := makeNamespace(ns)
	if err != nil {
		return err
	}
	defer cleanup()
	port, admin := freePort(), freePort()
	cfg := fmt.Sprintf(`bind_address: %[1]s
port: %[2]d
admin_address: %[1]s:%[3]d
log_level: warn
keys: {bench: "bench-secret-bench-secret-bench-secret"}
room: {departure_timeout: 1s, empty_timeout: 5s}
rtc:
  bind_address: %[1]s
  udp_port: 0
  tcp_port: 0
  ips: {includes: ["%[1]s/32"]}
  allowed_peers: ["10.213.250.0/24"]
`, nsIP, port, admin)
	dir, err := os.MkdirTemp("", "hop-rounds-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	cfgPath := filepath.Join(dir, "hop.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		return err
	}
	srv := exec.Command("ip", "netns", "exec", ns, abs, "serve", "--config", cfgPath, "--pprof", nsIP+":16060")
	var srvLog bytes.Buffer
	srv.Stdout, srv.Stderr = &srvLog, &srvLog
	if err := srv.Start(); err != nil {
		return err
	}
	defer func() { _ = srv.Process.Signal(os.Interrupt); _ = srv.Wait() }()
	adminBase := fmt.Sprintf("http://%s:%d", nsIP, admin)
	if err := waitHTTP(adminBase+"/metrics", 10*time.Second); err != nil {
		return fmt.Errorf("node did not start: %w\n%s", err, srvLog.String())
	}
	cache, _ := os.UserCacheDir()
	fmt.Printf("Rounds of `hop loadtest` against one node: %d publishers (simulcast 720p VP8 + Opus) and %d subscribers, %v each\n", pubs, subs, d)
	fmt.Printf("%-6s %-11s %-14s %-10s\n", "round", "goroutines", "live heap MB", "RSS MB")
	state := func(label string) error {
		// Wait until every room has closed, then read what the node still holds.
		deadline := time.Now().Add(time.Minute)
		for {
			m, err := scrape(adminBase)
			if err == nil && m["hop_participants"] == 0 && m["hop_rooms"] == 0 && m["hop_peer_connections"] == 0 {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("rooms did not close: %v %v", m, err)
			}
			time.Sleep(250 * time.Millisecond)
		}
		g, err := goroutines()
		if err != nil {
			return err
		}
		heap, err := liveHeapMB()
		if err != nil {
			return err
		}
		rss, _ := rssMB(srv.Process.Pid)
		fmt.Printf("%-6s %-11d %-14.1f %-10.1f\n", label, g, heap, rss)
		return nil
	}
	if err := state("start"); err != nil {
		return err
	}
	for i := 1; i <= rounds; i++ {
		lt := exec.Command("ip", "netns", "exec", ns, abs, "loadtest", "--id-prefix", fmt.Sprintf("r%d-", i),
			"--url", fmt.Sprintf("ws://%s:%d", nsIP, port), "--api-key", "bench", "--api-secret", "bench-secret-bench-secret-bench-secret",
			"--room", fmt.Sprintf("round-%d", i%3), "--video-publishers", strconv.Itoa(pubs), "--subscribers", strconv.Itoa(subs),
			"--duration", d.String(), "--num-per-second", "10", "--media-dir", filepath.Join(cache, "hop-loadtest"), "--json", "--quiet")
		var out bytes.Buffer
		lt.Stdout, lt.Stderr = io.Discard, &out
		if err := lt.Run(); err != nil {
			return fmt.Errorf("round %d: %w\n%s", i, err, out.String())
		}
		if err := state(strconv.Itoa(i)); err != nil {
			return err
		}
	}
	return nil
}

// goroutines reads the node's goroutine count from its profiler.
func goroutines() (int, error) {
	resp, err := http.Get("http://" + nsIP + ":16060/debug/pprof/goroutine?debug=1")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	if sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "goroutine profile: total "); ok {
			return strconv.Atoi(strings.TrimSpace(v))
		}
	}
	return 0, fmt.Errorf("goroutine profile: unexpected %q", sc.Text())
}
