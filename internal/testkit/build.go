package testkit

import (
	"os/exec"
	"path/filepath"
	"testing"
)

// BuildHop builds the hop binary into the test's temporary directory, for tests that run it as
// its users do.
func BuildHop(t testing.TB) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "hop")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/hop-meet/hop/cmd/hop").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}
