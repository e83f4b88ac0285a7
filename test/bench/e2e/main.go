// Command e2e is the end-to-end part of `make bench`: it starts a Hop node, loads it with
// `hop loadtest` running in a network namespace of its own (so the load generator's clients reach
// the node over a real interface, not loopback), and measures the node: CPU time per forwarded
// packet (user and kernel), delivered Mbit/s, memory, and the subscribers' loss — once with
// GOMAXPROCS=2 and once with GOMAXPROCS=1.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/hop-meet/hop/internal/loadtest"
)

var profileOut string

const (
	hostIP = "10.213.250.1"
	nsIP   = "10.213.250.2"
)

func main() {
	bin := flag.String("hop", "bin/hop", "hop binary")
	pubs := flag.Int("publishers", 4, "simulcast 720p video publishers")
	subs := flag.Int("subscribers", 30, "subscribers")
	measure := flag.Duration("measure", 20*time.Second, "steady-state measurement window")
	procs := flag.String("gomaxprocs", "2,1", "GOMAXPROCS values to run the node with")
	flag.StringVar(&profileOut, "cpuprofile", "", "write the node's CPU profile over the measurement window here")
	flag.Parse()
	if err := run(*bin, *pubs, *subs, *measure, strings.Split(*procs, ",")); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

type result struct {
	procs                      string
	cpuUSPerPacket, mbps, pps  float64
	rssMB                      float64
	lossPct, jitterMs, kbpsSub float64
	tracks, expected           int
	nacksPerSec, drops         float64
	perCall                    float64
	inLossPct                  float64
}

func run(bin string, pubs, subs int, measure time.Duration, procs []string) error {
	if os.Geteuid() != 0 {
		return errors.New("needs root (it creates a network namespace)")
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
	var results []result
	for _, p := range procs {
		r, err := runOnce(abs, ns, strings.TrimSpace(p), pubs, subs, measure)
		if err != nil {
			return fmt.Errorf("GOMAXPROCS=%s: %w", p, err)
		}
		results = append(results, *r)
	}
	fmt.Printf("\nEnd to end: %d simulcast 720p publishers (VP8 + Opus), %d subscribers, `hop loadtest` in a network namespace\n", pubs, subs)
	fmt.Printf("%-11s %-15s %-11s %-11s %-8s %-12s %-8s %-10s %-8s %-10s %-10s %s\n", "GOMAXPROCS", "CPU µs/packet", "packets/s", "Mbit/s out",
		"RSS MB", "tracks recv", "loss %", "NACKs/s", "drops", "pkts/call", "in-loss %", "jitter ms (max)")
	for _, r := range results {
		fmt.Printf("%-11s %-15.2f %-11.0f %-11.1f %-8.1f %-12s %-8.3f %-10.1f %-8.0f %-10.1f %-10.3f %.1f\n", r.procs, r.cpuUSPerPacket, r.pps, r.mbps, r.rssMB,
			fmt.Sprintf("%d/%d", r.tracks, r.expected), r.lossPct, r.nacksPerSec, r.drops, r.perCall, r.inLossPct, r.jitterMs)
	}
	return nil
}

func sh(args ...string) error {
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %w: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

func makeNamespace(ns string) (func(), error) {
	host, peer := "hb"+strconv.Itoa(os.Getpid()%100000)+"a", "hb"+strconv.Itoa(os.Getpid()%100000)+"b"
	cleanup := func() { _ = exec.Command("ip", "netns", "del", ns).Run() }
	steps := [][]string{
		{"ip", "netns", "add", ns},
		{"ip", "link", "add", host, "type", "veth", "peer", "name", peer},
		{"ip", "link", "set", peer, "netns", ns},
		{"ip", "addr", "add", hostIP + "/24", "dev", host},
		{"ip", "link", "set", host, "up"},
		{"ip", "-n", ns, "addr", "add", nsIP + "/24", "dev", peer},
		{"ip", "-n", ns, "link", "set", peer, "up"},
		{"ip", "-n", ns, "link", "set", "lo", "up"},
	}
	for _, s := range steps {
		if err := sh(s...); err != nil {
			cleanup()
			return nil, err
		}
	}
	return cleanup, nil
}

func freePort() int {
	l, err := net.Listen("tcp", hostIP+":0")
	if err != nil {
		return 17880
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func runOnce(bin, ns, procs string, pubs, subs int, measure time.Duration) (*result, error) {
	port := freePort()
	cfg := fmt.Sprintf(`bind_address: %[1]s
port: %[2]d
log_level: warn
keys: {bench: "bench-secret-bench-secret-bench-secret"}
rtc:
  bind_address: %[1]s
  udp_port: 0
  tcp_port: 0
  ips: {includes: ["%[1]s/32"]}
  allowed_peers: ["10.213.250.0/24"]
`, nsIP, port)
	dir, err := os.MkdirTemp("", "hop-bench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	cfgPath := filepath.Join(dir, "hop.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		return nil, err
	}
	args := []string{"serve", "--config", cfgPath}
	if profileOut != "" {
		args = append(args, "--pprof", nsIP+":16060")
	}
	// The node and its clients share the namespace, so media travels over its loopback path: the
	// cost the kernel charges per packet is then the one the floor assumes (a receiver on
	// the same machine), without the veth's extra hop. The runner reaches the node over the veth.
	srv := exec.Command("ip", append([]string{"netns", "exec", ns, bin}, args...)...)
	srv.Env = append(os.Environ(), "GOMAXPROCS="+procs)
	var srvLog bytes.Buffer
	srv.Stdout, srv.Stderr = &srvLog, &srvLog
	if err := srv.Start(); err != nil {
		return nil, err
	}
	defer func() {
		_ = srv.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = srv.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = srv.Process.Kill()
		}
	}()
	base := fmt.Sprintf("http://%s:%d", nsIP, port)
	if err := waitHTTP(base+"/healthz", 10*time.Second); err != nil {
		return nil, fmt.Errorf("node did not start: %w\n%s", err, srvLog.String())
	}

	cache, _ := os.UserCacheDir()
	total := measure + 25*time.Second // joins and warm-up, then the window
	lt := exec.Command("ip", "netns", "exec", ns, bin, "loadtest",
		"--url", fmt.Sprintf("ws://%s:%d", nsIP, port), "--api-key", "bench", "--api-secret", "bench-secret-bench-secret-bench-secret",
		"--video-publishers", strconv.Itoa(pubs), "--subscribers", strconv.Itoa(subs), "--duration", total.String(),
		"--num-per-second", "10", "--media-dir", filepath.Join(cache, "hop-loadtest"), "--json", "--quiet")
	var ltOut, ltErr bytes.Buffer
	lt.Stdout, lt.Stderr = &ltOut, &ltErr
	fmt.Fprintf(os.Stderr, "GOMAXPROCS=%s: %d publishers, %d subscribers joining...\n", procs, pubs, subs)
	if err := lt.Start(); err != nil {
		return nil, err
	}
	// Wait until everyone is in, let bandwidth estimates settle, then measure.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for {
		m, err := scrape(base)
		if err == nil && m["hop_participants"] >= float64(pubs+subs) {
			break
		}
		if ctx.Err() != nil {
			_ = lt.Process.Kill()
			return nil, fmt.Errorf("clients did not all join: %v\n%s", m["hop_participants"], ltErr.String())
		}
		time.Sleep(500 * time.Millisecond)
	}
	time.Sleep(10 * time.Second)
	m1, err := scrape(base)
	if err != nil {
		return nil, fmt.Errorf("%w\nnode log:\n%s", err, tail(srvLog.String(), 4000))
	}
	c1, err := cpuTime(srv.Process.Pid)
	if err != nil {
		return nil, err
	}
	t1 := time.Now()
	if profileOut != "" {
		go func() {
			resp, err := http.Get(fmt.Sprintf("http://"+nsIP+":16060/debug/pprof/profile?seconds=%d", int(measure.Seconds())-1))
			if err != nil {
				return
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			_ = os.WriteFile(profileOut+"."+procs, b, 0o644)
		}()
	}
	time.Sleep(measure)
	m2, err := scrape(base)
	if err != nil {
		return nil, fmt.Errorf("%w\nnode log:\n%s", err, tail(srvLog.String(), 4000))
	}
	c2, _ := cpuTime(srv.Process.Pid)
	dt := time.Since(t1).Seconds()
	rss, _ := rssMB(srv.Process.Pid)
	if err := lt.Wait(); err != nil {
		return nil, fmt.Errorf("loadtest: %w\n%s", err, ltErr.String())
	}
	var rep loadtest.Report
	if err := json.Unmarshal(ltOut.Bytes(), &rep); err != nil {
		return nil, fmt.Errorf("loadtest report: %w", err)
	}
	packets := m2["hop_packets_forwarded_total"] - m1["hop_packets_forwarded_total"]
	bytesOut := m2["hop_bytes_forwarded_total"] - m1["hop_bytes_forwarded_total"]
	if packets <= 0 {
		return nil, errors.New("no packets forwarded during the measurement")
	}
	return &result{
		procs:          procs,
		cpuUSPerPacket: (c2 - c1).Seconds() * 1e6 / packets,
		pps:            packets / dt,
		mbps:           bytesOut * 8 / dt / 1e6,
		rssMB:          rss,
		lossPct:        rep.TotalLossPct,
		jitterMs:       rep.MaxJitterMs,
		tracks:         rep.SubscribedTracks,
		expected:       rep.ExpectedTracks * subs,
		nacksPerSec:    (m2["hop_nacks_total"] - m1["hop_nacks_total"]) / dt,
		drops: m2["hop_forward_drops_total"] - m1["hop_forward_drops_total"] +
			m2["hop_send_drops_total"] - m1["hop_send_drops_total"],
		inLossPct: 100 * (m2["hop_packets_lost_total"] - m1["hop_packets_lost_total"]) /
			max(1, m2["hop_packets_received_total"]-m1["hop_packets_received_total"]),
		perCall: (m2["hop_send_batched_packets_total"] - m1["hop_send_batched_packets_total"]) /
			max(1, m2["hop_send_calls_total"]-m1["hop_send_calls_total"]),
	}, nil
}

func waitHTTP(url string, d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

var metricLine = regexp.MustCompile(`^(hop_[a-z_]+)(\{[^}]*\})? ([0-9.eE+-]+)$`)

func scrape(base string) (map[string]float64, error) {
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if m := metricLine.FindStringSubmatch(sc.Text()); m != nil {
			v, _ := strconv.ParseFloat(m[3], 64)
			out[m[1]] = v
		}
	}
	return out, sc.Err()
}

// cpuTime is the process's user plus system time (/proc/PID/stat fields 14 and 15).
func cpuTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name may contain spaces: fields start after the last ')'.
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	const hz = 100 // USER_HZ on Linux
	return time.Duration(utime+stime) * time.Second / hz, nil
}

func rssMB(pid int) (float64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "VmRSS:") {
			kb, _ := strconv.ParseFloat(strings.Fields(sc.Text())[1], 64)
			return kb / 1024, nil
		}
	}
	return 0, io.EOF
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
