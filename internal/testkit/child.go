package testkit

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// A test that counts a node's goroutines cannot run the node's clients in its own process: their
// goroutines would be counted too. It runs them in a child instead, the same test binary running
// only one test, which finds out it is the child with ChildRole. The two talk in lines: the child
// Says on its stdout, the parent Tells on the child's stdin.

const (
	childEnv  = "HOP_TEST_CHILD"
	childLine = "hop-child: "
)

// Child is a client process started by StartChild.
type Child struct {
	t     testing.TB
	cmd   *exec.Cmd
	stdin *os.File
	lines chan string
	done  chan struct{}
	err   error

	mu sync.Mutex
	// out is everything else the child printed (its test output), for the failure message.
	out bytes.Buffer
}

// StartChild runs this test binary again, running only the test named test, with role set for
// ChildRole and env (KEY=value) added to the environment. The child is killed if it still runs
// when the test ends.
func StartChild(t testing.TB, test, role string, env ...string) *Child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^"+test+"$", "-test.count=1", "-test.v", "-test.timeout=10m")
	cmd.Env = append(append(os.Environ(), childEnv+"="+role), env...)
	// Plain files, not the exec package's pipes: those start copying goroutines in this process.
	inR, inW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = inR, outW, outW
	if err := cmd.Start(); err != nil {
		t.Fatalf("start child %s: %v", role, err)
	}
	_ = inR.Close()
	_ = outW.Close()
	c := &Child{t: t, cmd: cmd, stdin: inW, lines: make(chan string, 64), done: make(chan struct{})}
	go c.read(outR)
	t.Cleanup(func() {
		select {
		case <-c.done:
		default:
			_ = cmd.Process.Kill()
			<-c.done
		}
		_ = inW.Close()
	})
	return c
}

// read forwards the child's protocol lines and keeps the rest; at end of output it reaps the child.
func (c *Child) read(r *os.File) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		l := sc.Text()
		if s, ok := strings.CutPrefix(l, childLine); ok {
			c.lines <- s
			continue
		}
		c.mu.Lock()
		c.out.WriteString(l + "\n")
		c.mu.Unlock()
	}
	_ = r.Close()
	c.err = c.cmd.Wait()
	close(c.lines)
	close(c.done)
}

// Output is what the child printed apart from its protocol lines.
func (c *Child) Output() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.out.String()
}

// Await waits for the child to Say a line starting with prefix and returns that line; lines with
// other prefixes before it are skipped. It fails the test if the child ends or timeout passes first.
func (c *Child) Await(prefix string, timeout time.Duration) string {
	c.t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case l, ok := <-c.lines:
			if !ok {
				<-c.done
				c.t.Fatalf("child ended (%v) before saying %q:\n%s", c.err, prefix, c.Output())
			}
			if strings.HasPrefix(l, prefix) {
				return l
			}
		case <-deadline:
			c.t.Fatalf("child did not say %q within %v:\n%s", prefix, timeout, c.Output())
		}
	}
}

// Tell sends the child a line (read with Hear).
func (c *Child) Tell(line string) {
	c.t.Helper()
	if _, err := fmt.Fprintln(c.stdin, line); err != nil {
		c.t.Fatalf("tell child %q: %v", line, err)
	}
}

// Wait waits for the child to exit and fails the test, with the child's output, if it failed.
// It returns the lines the child said that nobody awaited.
func (c *Child) Wait(timeout time.Duration) []string {
	c.t.Helper()
	var said []string
	deadline := time.After(timeout)
	for {
		select {
		case l, ok := <-c.lines:
			if ok {
				said = append(said, l)
				continue
			}
			<-c.done
			if c.err != nil {
				c.t.Fatalf("child failed (%v):\n%s", c.err, c.Output())
			}
			return said
		case <-deadline:
			c.t.Fatalf("child did not end within %v:\n%s", timeout, c.Output())
		}
	}
}

// ChildRole is the role StartChild gave this process, or "" in a test run by `go test` itself.
func ChildRole() string { return os.Getenv(childEnv) }

// Say sends the parent a line (read with Await). Only a child may call it.
func Say(format string, args ...any) {
	fmt.Printf(childLine+format+"\n", args...)
}

var stdinLines = sync.OnceValue(func() *bufio.Scanner { return bufio.NewScanner(os.Stdin) })

// Hear waits for the parent to Tell the line want; a child whose parent is gone fails.
func Hear(t testing.TB, want string) {
	t.Helper()
	sc := stdinLines()
	for sc.Scan() {
		if sc.Text() == want {
			return
		}
	}
	t.Fatalf("parent closed stdin before saying %q", want)
}

// Spare names the goroutine that reads the child's output, for WaitGoroutinesBack while the child
// still runs (a child's clients may finish closing after they said so, and need it alive).
func (c *Child) Spare() Spare {
	return Spare{Entry: "github.com/hop-meet/hop/internal/testkit.(*Child).read", Max: 1}
}
