// Command e2e is the end-to-end part of `make bench`: in a network namespace of its own it starts a
// Hop node and loads it with `hop loadtest` (publishers first, then subscribers), and measures the
// node: CPU time per forwarded packet (user and kernel, all of it), RTP payload Mbit/s sent, memory per
// subscriber (resident and live heap), and the subscribers' loss — once per GOMAXPROCS value.
// Node and clients share the namespace's addresses, so media takes the kernel's local path: the
// per-packet kernel cost is that of a receiver on the same machine, as in the floor.
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

var profileOut, reportOut, heapOut, nodeLogOut string

const (
	hostIP = "10.213.250.1"
	nsIP   = "10.213.250.2"
)

func main() {
	bin := flag.String("hop", "bin/hop", "hop binary")
	pubs := flag.Int("publishers", 4, "simulcast 720p video publishers")
	subs := flag.Int("subscribers", 30, "subscribers")
	measure := flag.Duration("measure", 20*time.Second, "steady-state measurement window")
	procs := flag.String("gomaxprocs", "2,2-fixed,1", "GOMAXPROCS values to run the node with; N-fixed: with `procs: fixed` (N processors throughout), else the node sizes them to its load, up to N")
	flag.StringVar(&profileOut, "cpuprofile", "", "write the node's CPU profile over the measurement window here")
	flag.StringVar(&reportOut, "report", "", "write the subscribers' loadtest report (JSON) here")
	flag.StringVar(&nodeLogOut, "nodelog", "", "write the node's log here (.GOMAXPROCS appended)")
	flag.StringVar(&heapOut, "heapprofile", "", "write the node's heap profiles after the first subscribers joined (.a) and at the end (.b) here")
	rounds := flag.Int("rounds", 0, "instead of the benchmark: this many rounds of loadtest clients joining and leaving one node, printing its goroutines and live heap after each")
	roundLength := flag.Duration("round-length", 15*time.Second, "how long media flows in each of -rounds")
	flag.Parse()
	if *rounds > 0 {
		if err := runRounds(*bin, *rounds, 2, 8, *roundLength); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		return
	}
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
	perCall, perMessage        float64
	inLossPct                  float64
	// ran is the processors the node ran on at the end of the window, changed how many times
	// during it.
	ran, procChanges     float64
	mbPerSub, heapPerSub float64
	// The same for the subscribers of the second group only (see runOnce).
	mbMarginal, heapMarginal float64
}

// mergeReports sums the subscriber groups' reports.
func mergeReports(reps []loadtest.Report) loadtest.Report {
	var out loadtest.Report
	var expected, lost int
	for _, r := range reps {
		out.Subscribers = append(out.Subscribers, r.Subscribers...)
		out.TotalKbps += r.TotalKbps
		out.SubscribedTracks += r.SubscribedTracks
		out.ConnectFailures += r.ConnectFailures
		out.MaxJitterMs = max(out.MaxJitterMs, r.MaxJitterMs)
		for _, s := range r.Subscribers {
			for _, t := range s.Tracks {
				expected += t.Packets + t.Lost
				lost += t.Lost
			}
		}
	}
	if expected > 0 {
		out.TotalLossPct = 100 * float64(lost) / float64(expected)
	}
	return out
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
	fmt.Printf("%-11s %-8s %-15s %-11s %-11s %-12s %-8s %-10s %-8s %-10s %-9s %-10s %s\n", "GOMAXPROCS", "ran on", "CPU µs/packet", "packets/s", "payload Mb/s",
		"tracks recv", "loss %", "NACKs/s", "drops", "pkts/call", "pkts/msg", "in-loss %", "jitter ms (max)")
	for _, r := range results {
		ran := fmt.Sprint(r.ran)
		if r.procChanges > 0 {
			ran += fmt.Sprintf(" (%.0f×)", r.procChanges)
		}
		fmt.Printf("%-11s %-8s %-15.2f %-11.0f %-11.1f %-12s %-8.3f %-10.1f %-8.0f %-10.1f %-9.2f %-10.3f %.1f\n", r.procs, ran, r.cpuUSPerPacket, r.pps, r.mbps,
			fmt.Sprintf("%d/%d", r.tracks, r.expected), r.lossPct, r.nacksPerSec, r.drops, r.perCall, r.perMessage, r.inLossPct, r.jitterMs)
	}
	fmt.Printf("\nMemory per subscriber (MB): all %d subscribers against none, and the last %d against the first %d\n", subs, subs-subs/3, subs/3)
	fmt.Printf("%-11s %-8s %-9s %-10s %-18s %s\n", "GOMAXPROCS", "RSS MB", "RSS/sub", "heap/sub", "RSS/sub marginal", "heap/sub marginal")
	for _, r := range results {
		fmt.Printf("%-11s %-8.1f %-9.2f %-10.2f %-18.2f %.2f\n", r.procs, r.rssMB, r.mbPerSub, r.heapPerSub, r.mbMarginal, r.heapMarginal)
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
	admin := freePort()
	cfg := fmt.Sprintf(`bind_address: %[1]s
port: %[2]d
admin_address: %[1]s:%[3]d
log_level: warn
http: {rate_limit: {joins: {burst: 0}}}   # every load client joins from one address
keys: {bench: "bench-secret-bench-secret-bench-secret"}
rtc:
  bind_address: %[1]s
  udp_port: 0
  tcp_port: 0
  ips: {includes: ["%[1]s/32"]}
  allowed_peers: ["10.213.250.0/24"]
`, nsIP, port, admin)
	dir, err := os.MkdirTemp("", "hop-bench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	cfgPath := filepath.Join(dir, "hop.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		return nil, err
	}
	// The profiler also tells the live heap after a collection, for memory per subscriber.
	args := []string{"serve", "--config", cfgPath, "--pprof", nsIP + ":16060"}
	// The node and its clients share the namespace, so media travels over its loopback path: the
	// cost the kernel charges per packet is then the one the floor assumes (a receiver on
	// the same machine), without the veth's extra hop. The runner reaches the node over the veth.
	n, fixed := strings.CutSuffix(procs, "-fixed")
	if fixed {
		args = append(args, "--procs", "fixed")
	}
	srv := exec.Command("ip", append([]string{"netns", "exec", ns, bin}, args...)...)
	srv.Env = append(os.Environ(), "GOMAXPROCS="+n)
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
			<-done
		}
		if nodeLogOut != "" {
			if err := os.WriteFile(nodeLogOut+"."+procs, srvLog.Bytes(), 0o644); err != nil {
				fmt.Fprintln(os.Stderr, "bench:", err)
			}
		}
	}()
	base := fmt.Sprintf("http://%s:%d", nsIP, port)
	adminBase := fmt.Sprintf("http://%s:%d", nsIP, admin)
	if err := waitHTTP(base+"/healthz", 10*time.Second); err != nil {
		return nil, fmt.Errorf("node did not start: %w\n%s", err, srvLog.String())
	}

	cache, _ := os.UserCacheDir()
	total := measure + 30*time.Second // joins and warm-up, then the window
	clients := func(prefix string, pubs, subs int, d time.Duration) *exec.Cmd {
		return exec.Command("ip", "netns", "exec", ns, bin, "loadtest", "--id-prefix", prefix,
			"--url", fmt.Sprintf("ws://%s:%d", nsIP, port), "--api-key", "bench", "--api-secret", "bench-secret-bench-secret-bench-secret",
			"--video-publishers", strconv.Itoa(pubs), "--subscribers", strconv.Itoa(subs), "--duration", d.String(),
			"--num-per-second", "10", "--media-dir", filepath.Join(cache, "hop-loadtest"), "--json", "--quiet")
	}
	waitParticipants := func(n int, errOut *bytes.Buffer) error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		for {
			m, err := scrape(adminBase)
			if err == nil && m["hop_participants"] >= float64(n) {
				return nil
			}
			if ctx.Err() != nil {
				return fmt.Errorf("clients did not all join: %v of %d (%v)\n%s\nnode log:\n%s", m["hop_participants"], n, err, errOut.String(), tail(srvLog.String(), 4000))
			}
			time.Sleep(500 * time.Millisecond)
		}
	}
	fmt.Fprintf(os.Stderr, "GOMAXPROCS=%s: %d publishers, %d subscribers joining...\n", procs, pubs, subs)
	// Publishers first, in a process of their own, so that the node's memory can be read before
	// and after the subscribers join.
	pl := clients("", pubs, 0, total+20*time.Second)
	var plErr bytes.Buffer
	pl.Stdout, pl.Stderr = io.Discard, &plErr
	if err := pl.Start(); err != nil {
		return nil, err
	}
	defer func() { _ = pl.Process.Kill(); _ = pl.Wait() }()
	if err := waitParticipants(pubs, &plErr); err != nil {
		return nil, err
	}
	time.Sleep(5 * time.Second)
	rss0, _ := rssMB(srv.Process.Pid)
	heap0, err := liveHeapMB()
	if err != nil {
		return nil, err
	}

	// Subscribers join in two groups: a third first, then the rest. Memory read between the two
	// gives the marginal cost of a subscriber, without what the first ones start once for all
	// (publishers' layers flowing into their packet caches, the runtime's own growth).
	first := subs / 3
	if first == 0 {
		first = subs
	}
	type group struct {
		cmd      *exec.Cmd
		out, err bytes.Buffer
	}
	var groups []*group
	defer func() {
		for _, g := range groups {
			if g.cmd.ProcessState == nil {
				_ = g.cmd.Process.Kill()
				_ = g.cmd.Wait()
			}
		}
	}()
	join := func(n, upTo int, d time.Duration) error {
		g := &group{cmd: clients(fmt.Sprintf("g%d-", len(groups)+1), 0, n, d)}
		g.cmd.Stdout, g.cmd.Stderr = &g.out, &g.err
		if err := g.cmd.Start(); err != nil {
			return err
		}
		groups = append(groups, g)
		return waitParticipants(pubs+upTo, &g.err)
	}
	// The first group runs long enough to outlast the second one's joins.
	if err := join(first, first, total+20*time.Second); err != nil {
		return nil, err
	}
	rssA, heapA := rss0, heap0
	if first < subs {
		time.Sleep(5 * time.Second)
		rssA, _ = rssMB(srv.Process.Pid)
		if heapA, err = liveHeapMB(); err != nil {
			return nil, err
		}
		saveHeap(heapOut + "." + procs + ".a")
		if err := join(subs-first, subs, total); err != nil {
			return nil, err
		}
	}
	// Let bandwidth estimates settle, then measure.
	time.Sleep(10 * time.Second)
	m1, err := scrape(adminBase)
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
	m2, err := scrape(adminBase)
	if err != nil {
		return nil, fmt.Errorf("%w\nnode log:\n%s", err, tail(srvLog.String(), 4000))
	}
	c2, _ := cpuTime(srv.Process.Pid)
	dt := time.Since(t1).Seconds()
	rss, _ := rssMB(srv.Process.Pid)
	heap1, err := liveHeapMB()
	if err != nil {
		return nil, err
	}
	saveHeap(heapOut + "." + procs + ".b")
	var reps []loadtest.Report
	var raw [][]byte
	for _, g := range groups {
		if err := g.cmd.Wait(); err != nil {
			return nil, fmt.Errorf("loadtest: %w\n%s", err, g.err.String())
		}
		var rep loadtest.Report
		if err := json.Unmarshal(g.out.Bytes(), &rep); err != nil {
			return nil, fmt.Errorf("loadtest report: %w", err)
		}
		reps = append(reps, rep)
		raw = append(raw, g.out.Bytes())
	}
	if reportOut != "" {
		_ = os.WriteFile(reportOut+"."+procs, bytes.Join(raw, []byte("\n")), 0o644)
	}
	rep := mergeReports(reps)
	later := float64(max(1, subs-first))
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
		mbPerSub:       (rss - rss0) / float64(subs),
		heapPerSub:     (heap1 - heap0) / float64(subs),
		mbMarginal:     (rss - rssA) / later,
		heapMarginal:   (heap1 - heapA) / later,
		lossPct:        rep.TotalLossPct,
		jitterMs:       rep.MaxJitterMs,
		tracks:         rep.SubscribedTracks,
		expected:       2 * pubs * subs, // camera and microphone of each publisher
		nacksPerSec:    (m2["hop_nacks_total"] - m1["hop_nacks_total"]) / dt,
		drops: m2["hop_forward_drops_total"] - m1["hop_forward_drops_total"] +
			m2["hop_send_drops_total"] - m1["hop_send_drops_total"],
		inLossPct: 100 * (m2["hop_packets_lost_total"] - m1["hop_packets_lost_total"]) /
			max(1, m2["hop_packets_received_total"]-m1["hop_packets_received_total"]),
		ran:         m2["hop_gomaxprocs"],
		procChanges: m2["hop_gomaxprocs_changes_total"] - m1["hop_gomaxprocs_changes_total"],
		perCall: (m2["hop_send_batched_packets_total"] - m1["hop_send_batched_packets_total"]) /
			max(1, m2["hop_send_calls_total"]-m1["hop_send_calls_total"]),
		perMessage: (m2["hop_send_batched_packets_total"] - m1["hop_send_batched_packets_total"]) /
			max(1, m2["hop_send_messages_total"]-m1["hop_send_messages_total"]),
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

// liveHeapMB collects garbage in the node and returns the heap still allocated (runtime.MemStats
// HeapAlloc as the profiler prints it right after the collection).
func liveHeapMB() (float64, error) {
	resp, err := http.Get("http://" + nsIP + ":16060/debug/pprof/heap?gc=1&debug=1")
	if err != nil {
		return 0, fmt.Errorf("heap: %w", err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "# HeapAlloc = "); ok {
			n, err := strconv.ParseFloat(v, 64)
			return n / (1 << 20), err
		}
	}
	return 0, fmt.Errorf("heap: no HeapAlloc in the profile (%v)", sc.Err())
}

// saveHeap writes the node's heap profile to path, unless -heapprofile was not given.
func saveHeap(path string) {
	if heapOut == "" {
		return
	}
	resp, err := http.Get("http://" + nsIP + ":16060/debug/pprof/heap")
	if err != nil {
		return
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	_ = os.WriteFile(path, b, 0o644)
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
