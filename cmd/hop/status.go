package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	rediscluster "github.com/hop-meet/hop/signaling/routing/redis"
)

// runStatus prints a cluster's nodes, their load and the rooms each hosts, read from Redis.
func runStatus(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("status", flag.ContinueOnError)
	addr := fs.String("redis", "", "the cluster's Redis server HOST:PORT")
	password := fs.String("redis-password", "", "Redis password (or HOP_REDIS_PASSWORD)")
	sentinels := fs.String("redis-sentinels", "", "Sentinel addresses HOST:PORT, comma separated (instead of --redis)")
	master := fs.String("redis-master", "", "the master name the Sentinels watch")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *password == "" {
		*password = os.Getenv("HOP_REDIS_PASSWORD")
	}
	o := rediscluster.Options{Addr: *addr, Password: *password, MasterName: *master}
	if *sentinels != "" {
		o.SentinelAddrs = strings.Split(*sentinels, ",")
	}
	if o.Addr == "" && len(o.SentinelAddrs) == 0 {
		return fmt.Errorf("status: --redis or --redis-sentinels is required")
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
