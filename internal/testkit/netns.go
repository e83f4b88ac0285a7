package testkit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// NetNS is a network namespace made for one test: a veth pair joins it to the host, the host side
// 10.213.<idx>.1/24, the namespace side 10.213.<idx>.2/24. The namespace has lo and its veth up and
// no default route, so what runs inside it reaches only its own loopback and the host's
// 10.213.<idx>.1 (a node listening on 0.0.0.0 is reached there). Traffic never leaves the machine.
//
// Shaping: LimitDownlink puts a token-bucket filter on the host side's egress, i.e. on what the
// host sends into the namespace (the namespace's downlink); DropRandom drops a share of the UDP
// packets arriving inside the namespace (nftables, input hook), DropRandomUplink a share of those
// it sends (nftables, ingress hook of the host's veth end). This kernel has no netem and no
// fq_codel, so these are the tools.
//
// Everything is removed when the test ends (t.Cleanup), also when it fails. Namespaces are named
// hopt-<pid>-<idx>; ones left by a test process that no longer runs (a crash, a killed `go test`)
// are deleted by the next NewNetNS. Needs root and iproute2 (ip, tc) and nftables (nft), which
// `make test` installs.
type NetNS struct {
	t      testing.TB
	idx    int
	name   string
	hostIf string
	nsIf   string

	mu      sync.Mutex
	limited bool
	dropped bool
	// dropHost: the drop is DropRandomUplink's, in the host's namespace.
	dropHost bool
}

const (
	netnsPrefix = "hopt-"
	// nftLossTable is the table DropRandom installs inside the namespace.
	nftLossTable = "hopt_loss"
	// nftBlockTable is the table BlockUDP installs inside the namespace.
	nftBlockTable = "hopt_block"
	// DownlinkBufferLatency is how long a packet may wait in LimitDownlink's token bucket before it
	// is dropped (tbf's latency): the bottleneck's buffer. 300 ms is a common home-router buffer,
	// deep enough that a delay-based estimator (TWCC/GCC) sees queueing delay grow well before the
	// tail drops begin, as on a real congested link.
	DownlinkBufferLatency = 300 * time.Millisecond
)

var netnsSweepOnce sync.Once

// NewNetNS creates namespace hopt-<pid>-<idx> (idx 1..254) with its veth pair, and removes it when
// the test ends. Create namespaces before starting a node that binds 0.0.0.0: the node lists its
// local addresses (ICE candidates) when it starts.
func NewNetNS(t testing.TB, idx int) *NetNS {
	t.Helper()
	if idx < 1 || idx > 254 {
		t.Fatalf("netns: idx %d out of range 1..254", idx)
	}
	RequireNetNS(t)
	netnsSweepOnce.Do(func() { sweepStaleNetNS(t) })

	pid := os.Getpid()
	n := &NetNS{
		t:      t,
		idx:    idx,
		name:   fmt.Sprintf("%s%d-%d", netnsPrefix, pid, idx),
		hostIf: fmt.Sprintf("hh%d-%d", pid, idx), // at most 2+7+1+3 = 13 < IFNAMSIZ
		nsIf:   fmt.Sprintf("hn%d-%d", pid, idx),
	}
	// The subnet must be free: a live test process (another `go test`) may hold it.
	if owner := hostIfWithAddr(n.HostIP()); owner != "" {
		t.Fatalf("netns: %s is already on interface %s (another test process running?)", n.HostIP(), owner)
	}
	// From here on, a failure still removes what was made.
	t.Cleanup(n.remove)
	n.must("ip", "netns", "add", n.name)
	n.must("ip", "link", "add", n.hostIf, "type", "veth", "peer", "name", n.nsIf, "netns", n.name)
	n.must("ip", "addr", "add", n.HostIP()+"/24", "dev", n.hostIf)
	n.must("ip", "link", "set", n.hostIf, "up")
	n.must("ip", "-n", n.name, "addr", "add", n.IP()+"/24", "dev", n.nsIf)
	n.must("ip", "-n", n.name, "link", "set", n.nsIf, "up")
	n.must("ip", "-n", n.name, "link", "set", "lo", "up")
	// veth carrier comes up asynchronously; wait for it rather than racing the first packet.
	deadline := time.Now().Add(5 * time.Second)
	for {
		out, _ := exec.Command("ip", "-n", n.name, "-o", "-4", "addr", "show", "dev", n.nsIf).CombinedOutput()
		up, _ := exec.Command("ip", "-o", "link", "show", "dev", n.hostIf).CombinedOutput()
		if bytes.Contains(out, []byte(n.IP()+"/24")) && bytes.Contains(up, []byte("LOWER_UP")) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("netns %s: veth did not come up: %s %s", n.name, out, up)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return n
}

// RequireNetNS fails the test unless it runs as root with ip, tc and nft on PATH.
func RequireNetNS(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatalf("netns: network-namespace tests need root (euid %d)", os.Geteuid())
	}
	var missing []string
	for _, tool := range []struct{ bin, pkg string }{{"ip", "iproute2"}, {"tc", "iproute2"}, {"nft", "nftables"}} {
		if _, err := exec.LookPath(tool.bin); err != nil {
			missing = append(missing, tool.bin+" ("+tool.pkg+")")
		}
	}
	if len(missing) > 0 {
		t.Fatalf("netns: missing %s: run `make deps` (apt-get install iproute2 nftables)", strings.Join(missing, ", "))
	}
}

// Name is the namespace's name (hopt-<pid>-<idx>).
func (n *NetNS) Name() string { return n.name }

// HostIP is the host side of the veth pair, 10.213.<idx>.1: where the namespace reaches the host.
func (n *NetNS) HostIP() string { return fmt.Sprintf("10.213.%d.1", n.idx) }

// IP is the namespace side, 10.213.<idx>.2.
func (n *NetNS) IP() string { return fmt.Sprintf("10.213.%d.2", n.idx) }

// HostIf is the host-side veth interface (where LimitDownlink shapes).
func (n *NetNS) HostIf() string { return n.hostIf }

// Exec makes a command that runs name with args inside the namespace (through `ip netns exec`,
// which execs it: the command's PID is the program's own).
func (n *NetNS) Exec(ctx context.Context, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", n.name, name}, args...)...)
}

// Wrap rewrites cmd (not yet started) to run inside the namespace; it suits browser.Start's
// cmdWrapper.
func (n *NetNS) Wrap(cmd *exec.Cmd) {
	ip, err := exec.LookPath("ip")
	if err != nil {
		ip = "ip"
	}
	args := append([]string{ip, "netns", "exec", n.name, cmd.Path}, cmd.Args[1:]...)
	cmd.Path = ip
	cmd.Args = args
	cmd.Err = nil
}

// LimitDownlink caps what the host sends into the namespace at kbit kilobits per second with a
// token-bucket filter on the host-side veth (replacing any earlier limit). The bucket (burst)
// holds max(2 full packets, 20 ms at the rate) — at 500 kbit/s that is 3000 bytes: a sender
// cannot push more than a couple of packets through above the rate, as on a real bottleneck
// link. The buffer behind it holds DownlinkBufferLatency (300 ms) of traffic at the rate; packets
// that would wait longer are dropped.
func (n *NetNS) LimitDownlink(kbit int) {
	n.t.Helper()
	if kbit <= 0 {
		n.t.Fatalf("netns %s: LimitDownlink(%d)", n.name, kbit)
	}
	burst := kbit * 1000 / 8 / 50 // 20 ms
	if burst < 3000 {
		burst = 3000
	}
	n.must("tc", "qdisc", "replace", "dev", n.hostIf, "root", "tbf",
		"rate", fmt.Sprintf("%dkbit", kbit), "burst", strconv.Itoa(burst),
		"latency", fmt.Sprintf("%dms", DownlinkBufferLatency.Milliseconds()))
	n.mu.Lock()
	n.limited = true
	n.mu.Unlock()
}

// ClearDownlink removes LimitDownlink's filter.
func (n *NetNS) ClearDownlink() {
	n.t.Helper()
	n.mu.Lock()
	limited := n.limited
	n.limited = false
	n.mu.Unlock()
	if limited {
		n.must("tc", "qdisc", "del", "dev", n.hostIf, "root")
	}
}

// DownlinkStats reports the tbf qdisc's counters (packets sent and dropped, and its backlog in
// bytes) while a limit is set.
func (n *NetNS) DownlinkStats() (sent, dropped, backlogBytes int64, err error) {
	out, err := exec.Command("tc", "-s", "qdisc", "show", "dev", n.hostIf, "root").CombinedOutput()
	if err != nil {
		return 0, 0, 0, fmt.Errorf("tc -s qdisc: %w: %s", err, out)
	}
	if m := regexp.MustCompile(`Sent \d+ bytes (\d+) pkt \(dropped (\d+)`).FindSubmatch(out); m != nil {
		sent, _ = strconv.ParseInt(string(m[1]), 10, 64)
		dropped, _ = strconv.ParseInt(string(m[2]), 10, 64)
	}
	if m := regexp.MustCompile(`backlog (\d+)b`).FindSubmatch(out); m != nil {
		backlogBytes, _ = strconv.ParseInt(string(m[1]), 10, 64)
	}
	return sent, dropped, backlogBytes, nil
}

// DropRandom drops percent % (1..100) of the UDP packets arriving inside the namespace, chosen at
// random per packet (nftables numgen in a chain on the input hook), replacing any earlier rule.
func (n *NetNS) DropRandom(percent int) {
	n.t.Helper()
	n.dropRandom("input", percent)
}

// DropRandomUplink drops percent % (1..100) of the UDP packets the namespace sends, as they reach
// the host (nftables, netdev ingress hook on the host's veth end): a lossy uplink, silent to the
// sender. (A drop on the namespace's own output hook is not: the sending socket gets EPERM, and a
// browser simply sends the packet again.) DropStats and ClearDrop apply to it.
func (n *NetNS) DropRandomUplink(percent int) {
	n.t.Helper()
	n.dropRandom("ingress", percent)
}

// uplinkTable is DropRandomUplink's table, in the host's namespace.
func (n *NetNS) uplinkTable() string { return "hopt_up_" + strings.ReplaceAll(n.name, "-", "_") }

// nft runs nft with args, in the namespace, or in the host's for DropRandomUplink's table.
func (n *NetNS) nft(host bool, stdin string, args ...string) ([]byte, error) {
	cmd := exec.Command("ip", append([]string{"netns", "exec", n.name, "nft"}, args...)...)
	if host {
		cmd = exec.Command("nft", args...)
	}
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	return cmd.CombinedOutput()
}

// dropRandom installs the random drop on hook "input" (inside the namespace) or "ingress" (the
// host's end of the veth).
func (n *NetNS) dropRandom(hook string, percent int) {
	n.t.Helper()
	if percent < 1 || percent > 100 {
		n.t.Fatalf("netns %s: drop %d%%: percent must be 1..100", n.name, percent)
	}
	n.clearDrop(false)
	host := hook == "ingress"
	rules := fmt.Sprintf(`table inet %s {
	chain in {
		type filter hook input priority 0; policy accept;
`, nftLossTable)
	if host {
		rules = fmt.Sprintf(`table netdev %s {
	chain in {
		type filter hook ingress device %q priority 0; policy accept;
`, n.uplinkTable(), n.hostIf)
	}
	rules += fmt.Sprintf(`		meta l4proto udp counter
		meta l4proto udp numgen random mod 100 < %d counter drop
	}
}
`, percent)
	if out, err := n.nft(host, rules, "-f", "-"); err != nil {
		n.t.Fatalf("netns %s: nft: %v: %s", n.name, err, out)
	}
	n.mu.Lock()
	n.dropped, n.dropHost = true, host
	n.mu.Unlock()
}

// BlockUDP drops every UDP packet into and out of the namespace (a network that lets only TCP
// through, as some corporate firewalls do), for the rest of the test.
func (n *NetNS) BlockUDP() {
	n.t.Helper()
	rules := fmt.Sprintf(`table inet %s {
	chain in {
		type filter hook input priority 0; policy accept;
		meta l4proto udp counter drop
	}
	chain out {
		type filter hook output priority 0; policy accept;
		meta l4proto udp counter drop
	}
}
`, nftBlockTable)
	cmd := exec.Command("ip", "netns", "exec", n.name, "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(rules)
	if out, err := cmd.CombinedOutput(); err != nil {
		n.t.Fatalf("netns %s: nft: %v: %s", n.name, err, out)
	}
}

// BlockedUDP reports how many UDP packets BlockUDP's rules dropped.
func (n *NetNS) BlockedUDP() (int64, error) {
	out, err := exec.Command("ip", "netns", "exec", n.name, "nft", "list", "table", "inet", nftBlockTable).CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("nft list: %w: %s", err, out)
	}
	var total int64
	for _, m := range regexp.MustCompile(`counter packets (\d+)`).FindAllSubmatch(out, -1) {
		v, _ := strconv.ParseInt(string(m[1]), 10, 64)
		total += v
	}
	return total, nil
}

// DropStats reports how many UDP packets the DropRandom chain saw and how many it dropped.
func (n *NetNS) DropStats() (seen, dropped int64, err error) {
	n.mu.Lock()
	host := n.dropHost
	n.mu.Unlock()
	out, err := n.nft(false, "", "list", "table", "inet", nftLossTable)
	if host {
		out, err = n.nft(true, "", "list", "table", "netdev", n.uplinkTable())
	}
	if err != nil {
		return 0, 0, fmt.Errorf("nft list: %w: %s", err, out)
	}
	m := regexp.MustCompile(`counter packets (\d+)`).FindAllSubmatch(out, -1)
	if len(m) != 2 {
		return 0, 0, fmt.Errorf("nft list: unexpected output: %s", out)
	}
	seen, _ = strconv.ParseInt(string(m[0][1]), 10, 64)
	dropped, _ = strconv.ParseInt(string(m[1][1]), 10, 64)
	return seen, dropped, nil
}

// ClearDrop removes DropRandom's rule.
func (n *NetNS) ClearDrop() {
	n.t.Helper()
	n.clearDrop(true)
}

func (n *NetNS) clearDrop(strict bool) {
	n.mu.Lock()
	had, host := n.dropped, n.dropHost
	n.dropped, n.dropHost = false, false
	n.mu.Unlock()
	if !had {
		return
	}
	out, err := n.nft(false, "", "delete", "table", "inet", nftLossTable)
	if host {
		out, err = n.nft(true, "", "delete", "table", "netdev", n.uplinkTable())
	}
	if err != nil && strict {
		n.t.Fatalf("netns %s: nft delete table: %v: %s", n.name, err, out)
	}
}

func (n *NetNS) must(name string, args ...string) {
	n.t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		n.t.Fatalf("netns %s: %s %s: %v: %s", n.name, name, strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
}

// remove deletes the namespace (with it its veth end, which takes the host end and its qdisc
// along) and the host end in case the pair was made but not moved. Errors are reported, not fatal:
// it runs in cleanup.
func (n *NetNS) remove() {
	n.clearDrop(false)                                    // DropRandomUplink's table is in the host's namespace
	_ = exec.Command("ip", "link", "del", n.hostIf).Run() // absent when the namespace took it along
	if err := deleteNetNS(n.name); err != nil {
		n.t.Errorf("netns cleanup: %v", err)
	}
}

func deleteNetNS(name string) error {
	if !netnsExists(name) {
		return nil
	}
	out, err := exec.Command("ip", "netns", "del", name).CombinedOutput()
	if err != nil && netnsExists(name) {
		return fmt.Errorf("ip netns del %s: %v: %s", name, err, bytes.TrimSpace(out))
	}
	return nil
}

func netnsExists(name string) bool {
	_, err := os.Stat("/run/netns/" + name)
	return err == nil
}

var staleNameRE = regexp.MustCompile(`^hopt-(\d+)-(\d+)$`)

// sweepStaleNetNS deletes hopt-<pid>-* namespaces (and hh<pid>-* host veths) whose process is
// gone, so that a crashed run does not hold subnets the next run needs.
func sweepStaleNetNS(t testing.TB) {
	t.Helper()
	out, err := exec.Command("ip", "netns", "list").CombinedOutput()
	if err != nil {
		t.Fatalf("netns: ip netns list: %v: %s", err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		m := staleNameRE.FindStringSubmatch(f[0])
		if m == nil {
			continue
		}
		pid, _ := strconv.Atoi(m[1])
		if processAlive(pid) {
			continue
		}
		if err := deleteNetNS(f[0]); err != nil {
			t.Fatalf("netns: removing stale %s: %v", f[0], err)
		}
		t.Logf("netns: removed stale namespace %s (process %d is gone)", f[0], pid)
	}
	ifs, _ := net.Interfaces()
	hostRE := regexp.MustCompile(`^hh(\d+)-\d+$`)
	for _, ifc := range ifs {
		m := hostRE.FindStringSubmatch(ifc.Name)
		if m == nil {
			continue
		}
		if pid, _ := strconv.Atoi(m[1]); !processAlive(pid) {
			_ = exec.Command("ip", "link", "del", ifc.Name).Run()
			t.Logf("netns: removed stale interface %s", ifc.Name)
		}
	}
}

func processAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// hostIfWithAddr returns the host interface holding ip, or "".
func hostIfWithAddr(ip string) string {
	ifs, _ := net.Interfaces()
	for _, ifc := range ifs {
		addrs, _ := ifc.Addrs()
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok && ipn.IP.String() == ip {
				return ifc.Name
			}
		}
	}
	return ""
}

// LinkCounters are the host side's counters towards the namespace: what went in (after any
// LimitDownlink filter) and how many packets the filter dropped.
type LinkCounters struct {
	At        time.Time
	TxBytes   int64 // bytes the host sent into the namespace
	TxPackets int64
	Dropped   int64 // packets LimitDownlink's filter dropped (0 without a limit)
}

// Counters reads LinkCounters now.
func (n *NetNS) Counters() (LinkCounters, error) {
	c := LinkCounters{At: time.Now()}
	for _, f := range []struct {
		name string
		dst  *int64
	}{{"tx_bytes", &c.TxBytes}, {"tx_packets", &c.TxPackets}} {
		b, err := os.ReadFile("/sys/class/net/" + n.hostIf + "/statistics/" + f.name)
		if err != nil {
			return c, err
		}
		*f.dst, _ = strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	}
	n.mu.Lock()
	limited := n.limited
	n.mu.Unlock()
	if limited {
		_, dropped, _, err := n.DownlinkStats()
		if err != nil {
			return c, err
		}
		c.Dropped = dropped
	}
	return c, nil
}

// ListenUDP opens a UDP socket inside the namespace on addr (e.g. n.IP()+":0"): a listener the
// test owns where the namespace receives. The socket keeps its namespace whatever thread uses it.
func (n *NetNS) ListenUDP(addr string) (*net.UDPConn, error) {
	ua, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return nil, err
	}
	var conn *net.UDPConn
	err = n.onThreadInside(func() error {
		var err error
		conn, err = net.ListenUDP("udp", ua)
		return err
	})
	return conn, err
}

// onThreadInside runs f on a thread moved into the namespace. The thread is never moved back: its
// goroutine ends locked, so the runtime retires it and no other goroutine runs in the namespace.
func (n *NetNS) onThreadInside(f func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		ns, err := os.Open("/run/netns/" + n.name)
		if err != nil {
			errc <- err
			return
		}
		defer ns.Close()
		if err := unix.Setns(int(ns.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("setns %s: %w", n.name, err)
			return
		}
		errc <- f()
	}()
	return <-errc
}

// nftCountTable is the table CountUDP installs inside the namespace.
const nftCountTable = "hopt_count"

// CountUDP counts, from now on, the UDP packets arriving inside the namespace for the destination
// ports dports (nftables syntax: "40000-49999", "5000"); CountedUDP reads the count. Packets are
// counted whether or not a socket takes them.
func (n *NetNS) CountUDP(dports string) {
	n.t.Helper()
	rules := fmt.Sprintf(`table inet %s {
	chain in {
		type filter hook input priority -10; policy accept;
		udp dport %s counter
	}
}
`, nftCountTable, dports)
	if out, err := n.nft(false, rules, "-f", "-"); err != nil {
		n.t.Fatalf("netns %s: nft: %v: %s", n.name, err, out)
	}
}

// CountedUDP is the number of packets CountUDP's rule has seen.
func (n *NetNS) CountedUDP() (int64, error) {
	out, err := n.nft(false, "", "list", "table", "inet", nftCountTable)
	if err != nil {
		return 0, fmt.Errorf("nft list: %w: %s", err, out)
	}
	m := regexp.MustCompile(`counter packets (\d+)`).FindSubmatch(out)
	if m == nil {
		return 0, fmt.Errorf("nft list: unexpected output: %s", out)
	}
	v, _ := strconv.ParseInt(string(m[1]), 10, 64)
	return v, nil
}

// netnsChildEnv tells a test binary started by RunInNetNS which test runs inside a namespace.
const netnsChildEnv = "HOP_TEST_IN_NETNS"

// RunInNetNS runs the calling test again, in a test binary of its own started inside a namespace
// made for it (NewNetNS(t, idx)), so that everything the test starts (a node, pion clients) sees
// only that namespace's interfaces: lo and the veth end holding n.IP(). It returns true in that
// binary, where the test goes on, and false in the calling one once the inner run has passed (its
// output logged); a failed inner run fails the test.
func RunInNetNS(t *testing.T, idx int) bool {
	t.Helper()
	if os.Getenv(netnsChildEnv) == t.Name() {
		return true
	}
	n := NewNetNS(t, idx)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(t.Name(), "/")
	for i, p := range parts {
		parts[i] = "^" + regexp.QuoteMeta(p) + "$"
	}
	ctx := context.Background()
	if d, ok := t.Deadline(); ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, d.Add(-5*time.Second))
		defer cancel()
	}
	cmd := n.Exec(ctx, exe, "-test.run="+strings.Join(parts, "/"), "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), netnsChildEnv+"="+t.Name())
	out, err := cmd.CombinedOutput()
	t.Logf("inside %s:\n%s", n.Name(), out)
	if err != nil {
		t.Fatalf("the run inside %s failed: %v", n.Name(), err)
	}
	return false
}
