// Command hop is Hop's single binary: `hop serve` runs a node, `hop token` mints join tokens,
// `hop invite` makes meeting links.
package main

import (
	"fmt"
	"os"
)

const usage = `hop — self-hosted video meetings

Usage:
  hop serve [flags]     run a node (signalling + SFU)
  hop token [flags]     print a join token
  hop certs init [flags]  make a private CA and a server certificate for a closed network
  hop invite [flags]    print a meeting link with a signed invitation (--room, --role, --expires, --url)
  hop recorder start|list|stop [flags]  record a meeting, list recordings, stop one (the Egress API)
  hop loadtest [flags]  load a server with publishers and subscribers, and report what they got
  hop status --redis HOST:PORT  print a cluster's nodes, their load and the rooms each hosts
  hop drain --redis HOST:PORT --node ID  move a node's meetings away (after --deadline) and stop it
  hop version           print the version

Run "hop <command> -h" for a command's flags.
`

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "serve":
		err = runServe(os.Args[2:])
	case "certs":
		err = runCerts(os.Args[2:], os.Stdout)
	case "token":
		err = runToken(os.Args[2:], os.Stdout)
	case "invite":
		err = runInvite(os.Args[2:], os.Stdout)
	case "drain":
		err = runDrain(os.Args[2:], os.Stdout)
	case "status":
		err = runStatus(os.Args[2:], os.Stdout)
	case "recorder":
		err = runRecorder(os.Args[2:], os.Stdout)
	case "loadtest":
		err = runLoadTest(os.Args[2:], os.Stdout)
	case "version", "--version", "-v":
		fmt.Println("hop", version)
	case "help", "-h", "--help":
		fmt.Print(usage)
	default:
		fmt.Fprintf(os.Stderr, "hop: unknown command %q\n\n%s", os.Args[1], usage)
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "hop:", err)
		os.Exit(1)
	}
}
