package main

import (
	"flag"
	"fmt"
	"os"
	"strings"

	rediscluster "github.com/hop-meet/hop/signaling/routing/redis"
)

// redisFlags are the flags by which the cluster tools reach a cluster's Redis.
type redisFlags struct {
	addr, password, sentinels, master *string
}

func addRedisFlags(fs *flag.FlagSet) redisFlags {
	return redisFlags{
		addr:      fs.String("redis", "", "the cluster's Redis server HOST:PORT"),
		password:  fs.String("redis-password", "", "Redis password (or HOP_REDIS_PASSWORD)"),
		sentinels: fs.String("redis-sentinels", "", "Sentinel addresses HOST:PORT, comma separated (instead of --redis)"),
		master:    fs.String("redis-master", "", "the master name the Sentinels watch"),
	}
}

// options turns the parsed flags into the cluster's Redis options; cmd names the command in errors.
func (f redisFlags) options(cmd string) (rediscluster.Options, error) {
	pw := *f.password
	if pw == "" {
		pw = os.Getenv("HOP_REDIS_PASSWORD")
	}
	o := rediscluster.Options{Addr: *f.addr, Password: pw, MasterName: *f.master}
	if *f.sentinels != "" {
		o.SentinelAddrs = strings.Split(*f.sentinels, ",")
	}
	if o.Addr == "" && len(o.SentinelAddrs) == 0 {
		return o, fmt.Errorf("%s: --redis or --redis-sentinels is required", cmd)
	}
	return o, nil
}
