package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	rediscluster "github.com/hop-meet/hop/signaling/routing/redis"
)

// runDrain asks a cluster's node to drain: no new rooms there; after the deadline its meetings
// move to other nodes, then it exits. Waits until it has left the registry.
func runDrain(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("drain", flag.ContinueOnError)
	rf := addRedisFlags(fs)
	node := fs.String("node", "", "the node to drain (its id, as `hop status` prints it)")
	deadline := fs.Duration("deadline", time.Minute, "how long its meetings go on before their participants are moved")
	wait := fs.Bool("wait", true, "wait until the node has left the cluster")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *node == "" {
		return fmt.Errorf("drain: --node is required")
	}
	o, err := rf.options("drain")
	if err != nil {
		return err
	}
	rdb := rediscluster.NewClient(o)
	defer rdb.Close()
	ctx := context.Background()
	if err := rediscluster.RequestDrain(ctx, rdb, *node, *deadline); err != nil {
		return fmt.Errorf("drain: %w", err)
	}
	fmt.Fprintf(out, "node %s draining: no new rooms; meetings move after %v\n", *node, *deadline)
	if !*wait {
		return nil
	}
	limit := time.Now().Add(*deadline + time.Minute)
	for time.Now().Before(limit) {
		nodes, err := rediscluster.ListNodes(ctx, rdb)
		if err == nil {
			present := false
			for _, n := range nodes {
				present = present || n.ID == *node
			}
			if !present {
				fmt.Fprintf(out, "node %s has left the cluster\n", *node)
				return nil
			}
		}
		time.Sleep(time.Second) // the registry has no event to wait on
	}
	return fmt.Errorf("drain: node %s is still in the cluster", *node)
}
