package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	rediscluster "github.com/hop-meet/hop/signaling/routing/redis"
)

// runStatus prints a cluster's nodes, their load and the rooms each hosts, read from Redis.
func runStatus(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("status", flag.ContinueOnError)
	rf := addRedisFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	o, err := rf.options("status")
	if err != nil {
		return err
	}
	rdb := rediscluster.NewClient(o)
	defer rdb.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	nodes, err := rediscluster.ListNodes(ctx, rdb)
	if err != nil {
		return fmt.Errorf("status: %w", err)
	}
	w := tabwriter.NewWriter(out, 2, 4, 2, ' ', 0)
	fmt.Fprintln(w, "NODE\tURL\tMEDIA IP\tREGION\tSTATE\tROOMS\tPARTICIPANTS\tTRACKS\tCPU\tROOMS HOSTED")
	for _, n := range nodes {
		state := "up"
		if n.Draining {
			state = "draining"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%d\t%d\t%d\t%.2f\t%s\n", n.ID, n.URL, n.MediaIP, n.Region, state,
			n.Load.Rooms, n.Load.Participants, n.Load.Tracks, n.Load.CPU, strings.Join(n.Rooms, " "))
	}
	if err := w.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(out, "%d node(s)\n", len(nodes))
	return nil
}
