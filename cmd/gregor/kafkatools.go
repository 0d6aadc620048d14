package main

// Tool-named entry points. gregor's image has no JVM and no Kafka scripts,
// yet the compose files people already have carry healthchecks that run
// them (kafka-topics.sh --bootstrap-server localhost:9092 --list,
// kafka-broker-api-versions.sh …, Confluent's kafka-topics and cub
// kafka-ready, nc -z localhost 9092). The image links those names to the
// gregor binary, which, started under one of them, does what that tool
// does for the subset of flags such healthchecks and init scripts use:
//
//	kafka-topics[.sh]               --bootstrap-server B (--list [--exclude-internal]
//	                                | --describe [--topic T] | --create --topic T
//	                                [--partitions N] [--replication-factor R]
//	                                [--config k=v]… [--if-not-exists])
//	kafka-broker-api-versions[.sh]  --bootstrap-server B
//	kafka-cluster[.sh] cluster-id   --bootstrap-server B
//	cub kafka-ready                 [-b B] MIN_BROKERS TIMEOUT_SECONDS
//	nc                              -z [-v] [-w SECONDS] HOST PORT   (a port probe)
//
// Any other flag is refused with a message naming what is served: a
// healthcheck that passed without doing what it says would be worse than
// one that fails. Exit status 0 on success, 1 on failure, as the tools.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// kafkaTools maps a program name to its entry point.
var kafkaTools = map[string]func(args []string, stdout, stderr io.Writer) error{
	"kafka-topics":              kafkaTopicsTool,
	"kafka-broker-api-versions": kafkaAPIVersionsTool,
	"kafka-cluster":             kafkaClusterTool,
	"cub":                       cubTool,
	"nc":                        ncTool,
}

// toolFor returns the tool the program name argv0 names, if any
// (/opt/kafka/bin/kafka-topics.sh and kafka-topics are the same tool).
func toolFor(argv0 string) (func([]string, io.Writer, io.Writer) error, string, bool) {
	name := strings.TrimSuffix(filepath.Base(argv0), ".sh")
	f, ok := kafkaTools[name]
	return f, name, ok
}

// runTool runs the tool argv[0] names and returns the exit status; ok is
// false when argv[0] names none (gregor runs as itself).
func runTool(argv []string, stdout, stderr io.Writer) (status int, ok bool) {
	f, name, ok := toolFor(argv[0])
	if !ok {
		return 0, false
	}
	if err := f(argv[1:], stdout, stderr); err != nil {
		fmt.Fprintf(stderr, "%s (gregor): %v\n", name, err)
		return 1, true
	}
	return 0, true
}

// toolTimeout bounds every tool: healthchecks have their own timeout and a
// tool that hangs would only hide the answer.
const toolTimeout = 15 * time.Second

func toolClient(bootstrap string) (*kgo.Client, error) {
	var seeds []string
	for _, s := range strings.Split(bootstrap, ",") {
		if s = strings.TrimSpace(s); s != "" {
			seeds = append(seeds, s)
		}
	}
	if len(seeds) == 0 {
		return nil, errors.New("--bootstrap-server is required")
	}
	return kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.ClientID("gregor-kafka-tools"), kgo.RetryTimeout(5*time.Second))
}

// toolFlags is a flag set that reports an unknown flag with the tool's usage.
func toolFlags(name, usage string, stderr io.Writer) *pflag.FlagSet {
	fs := pflag.NewFlagSet(name, pflag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprintf(stderr, "gregor's %s serves: %s\n", name, usage) }
	return fs
}

func kafkaTopicsTool(args []string, stdout, stderr io.Writer) error {
	const usage = "--bootstrap-server B (--list [--exclude-internal] | --describe [--topic T] | --create --topic T [--partitions N] [--replication-factor R] [--config k=v]... [--if-not-exists])"
	fs := toolFlags("kafka-topics", usage, stderr)
	bootstrap := fs.String("bootstrap-server", "", "")
	list := fs.Bool("list", false, "")
	describe := fs.Bool("describe", false, "")
	create := fs.Bool("create", false, "")
	topic := fs.String("topic", "", "")
	partitions := fs.Int32("partitions", -1, "")
	replication := fs.Int16("replication-factor", -1, "")
	configs := fs.StringArray("config", nil, "")
	ifNotExists := fs.Bool("if-not-exists", false, "")
	excludeInternal := fs.Bool("exclude-internal", false, "")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q; serves %s", fs.Arg(0), usage)
	}
	n := 0
	for _, b := range []bool{*list, *describe, *create} {
		if b {
			n++
		}
	}
	if n != 1 {
		return fmt.Errorf("give exactly one of --list, --describe, --create; serves %s", usage)
	}
	cl, err := toolClient(*bootstrap)
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), toolTimeout)
	defer cancel()

	switch {
	case *list:
		tds, err := adm.ListTopicsWithInternal(ctx)
		if err != nil {
			return err
		}
		if err := tds.Error(); err != nil {
			return err
		}
		for _, td := range tds.Sorted() {
			if *excludeInternal && td.IsInternal {
				continue
			}
			fmt.Fprintln(stdout, td.Topic)
		}
		return nil
	case *create:
		if *topic == "" {
			return errors.New("--create needs --topic")
		}
		cfgs, err := parseKV(*configs)
		if err != nil {
			return err
		}
		resp, err := adm.CreateTopic(ctx, *partitions, *replication, cfgs, *topic)
		if err != nil {
			return err
		}
		if resp.Err != nil {
			if *ifNotExists && errors.Is(resp.Err, kerr.TopicAlreadyExists) {
				return nil
			}
			return fmt.Errorf("Error while executing topic command : %v", errText(resp.Err, resp.ErrMessage))
		}
		fmt.Fprintf(stdout, "Created topic %s.\n", *topic)
		return nil
	}
	// --describe
	var names []string
	if *topic != "" {
		names = []string{*topic}
	}
	tds, err := adm.ListTopicsWithInternal(ctx, names...)
	if err != nil {
		return err
	}
	if *topic != "" {
		if td, ok := tds[*topic]; !ok || td.Err != nil {
			return fmt.Errorf("Error while executing topic command : Topic '%s' does not exist as expected", *topic)
		}
	}
	for _, td := range tds.Sorted() {
		if td.Err != nil {
			return fmt.Errorf("topic %s: %v", td.Topic, td.Err)
		}
		rf := 0
		if len(td.Partitions) > 0 {
			rf = len(td.Partitions.Sorted()[0].Replicas)
		}
		fmt.Fprintf(stdout, "Topic: %s\tTopicId: %s\tPartitionCount: %d\tReplicationFactor: %d\tConfigs: \n", td.Topic, topicID(td.ID), len(td.Partitions), rf)
		for _, p := range td.Partitions.Sorted() {
			fmt.Fprintf(stdout, "\tTopic: %s\tPartition: %d\tLeader: %d\tReplicas: %s\tIsr: %s\n", td.Topic, p.Partition, p.Leader, joinInts(p.Replicas), joinInts(p.ISR))
		}
	}
	return nil
}

// kafkaAPIVersionsTool prints every broker's ApiVersions as
// kafka-broker-api-versions does: one block per broker, one line per API.
func kafkaAPIVersionsTool(args []string, stdout, stderr io.Writer) error {
	fs := toolFlags("kafka-broker-api-versions", "--bootstrap-server B", stderr)
	bootstrap := fs.String("bootstrap-server", "", "")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cl, err := toolClient(*bootstrap)
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), toolTimeout)
	defer cancel()
	md, err := kmsg.NewPtrMetadataRequest().RequestWith(ctx, cl)
	if err != nil {
		return err
	}
	sort.Slice(md.Brokers, func(i, j int) bool { return md.Brokers[i].NodeID < md.Brokers[j].NodeID })
	for _, b := range md.Brokers {
		req := kmsg.NewPtrApiVersionsRequest()
		req.ClientSoftwareName, req.ClientSoftwareVersion = "gregor-kafka-tools", version
		resp, err := req.RequestWith(ctx, cl.Broker(int(b.NodeID)))
		if err != nil {
			return fmt.Errorf("broker %d at %s:%d: %w", b.NodeID, b.Host, b.Port, err)
		}
		if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
			return fmt.Errorf("broker %d at %s:%d: %w", b.NodeID, b.Host, b.Port, err)
		}
		rack := "null"
		if b.Rack != nil {
			rack = *b.Rack
		}
		fmt.Fprintf(stdout, "%s (id: %d rack: %s) -> (\n", net.JoinHostPort(b.Host, strconv.Itoa(int(b.Port))), b.NodeID, rack)
		for i, k := range resp.ApiKeys {
			sep := ","
			if i == len(resp.ApiKeys)-1 {
				sep = ""
			}
			fmt.Fprintf(stdout, "\t%s(%d): %d to %d [usable: %d]%s\n", apiName(k.ApiKey), k.ApiKey, k.MinVersion, k.MaxVersion, k.MaxVersion, sep)
		}
		fmt.Fprintln(stdout, ")")
	}
	return nil
}

// apiName is the API's name as Kafka's tools print it (ApiVersions).
func apiName(key int16) string {
	if n := kmsg.NameForKey(key); n != "" {
		return n
	}
	return "UNKNOWN"
}

// kafkaClusterTool is `kafka-cluster cluster-id`: the cluster id.
func kafkaClusterTool(args []string, stdout, stderr io.Writer) error {
	fs := toolFlags("kafka-cluster", "cluster-id --bootstrap-server B", stderr)
	bootstrap := fs.String("bootstrap-server", "", "")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 || fs.Arg(0) != "cluster-id" {
		return errors.New("serves cluster-id --bootstrap-server B")
	}
	cl, err := toolClient(*bootstrap)
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), toolTimeout)
	defer cancel()
	md, err := kmsg.NewPtrMetadataRequest().RequestWith(ctx, cl)
	if err != nil {
		return err
	}
	if md.ClusterID == nil {
		return errors.New("the broker reports no cluster id")
	}
	fmt.Fprintf(stdout, "Cluster ID: %s\n", *md.ClusterID)
	return nil
}

// cubTool is Confluent's `cub kafka-ready [-b B] MIN_BROKERS TIMEOUT`:
// exit 0 once the cluster reports at least MIN_BROKERS brokers, 1 when
// TIMEOUT seconds pass first. Without -b it asks localhost:9092.
func cubTool(args []string, stdout, stderr io.Writer) error {
	const usage = "kafka-ready [-b B] MIN_BROKERS TIMEOUT_SECONDS"
	if len(args) == 0 || args[0] != "kafka-ready" {
		return fmt.Errorf("serves %s", usage)
	}
	fs := toolFlags("cub", usage, stderr)
	bootstrap := fs.StringP("bootstrap-servers", "b", "localhost:9092", "")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if fs.NArg() != 2 {
		return fmt.Errorf("serves %s", usage)
	}
	min, err1 := strconv.Atoi(fs.Arg(0))
	secs, err2 := strconv.Atoi(fs.Arg(1))
	if err1 != nil || err2 != nil || min < 1 || secs < 0 {
		return fmt.Errorf("MIN_BROKERS and TIMEOUT_SECONDS are whole numbers; serves %s", usage)
	}
	cl, err := toolClient(*bootstrap)
	if err != nil {
		return err
	}
	defer cl.Close()
	deadline := time.Now().Add(time.Duration(secs) * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		md, err := kmsg.NewPtrMetadataRequest().RequestWith(ctx, cl)
		cancel()
		if err == nil && len(md.Brokers) >= min {
			return nil
		}
		if time.Now().After(deadline) {
			if err != nil {
				return fmt.Errorf("not ready after %d s: %w", secs, err)
			}
			return fmt.Errorf("%d brokers after %d s, want %d", len(md.Brokers), secs, min)
		}
		time.Sleep(time.Second)
	}
}

// ncTool is the port probe `nc -z [-v] [-w SECONDS] HOST PORT` (busybox's
// nc, the image's other applets' home, has no -z).
func ncTool(args []string, stdout, stderr io.Writer) error {
	const usage = "-z [-v] [-w SECONDS] HOST PORT (a port probe)"
	fs := toolFlags("nc", usage, stderr)
	zero := fs.BoolP("zero", "z", false, "")
	verbose := fs.BoolP("verbose", "v", false, "")
	wait := fs.IntP("wait", "w", 5, "")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if !*zero || fs.NArg() != 2 {
		return fmt.Errorf("serves %s", usage)
	}
	addr := net.JoinHostPort(fs.Arg(0), fs.Arg(1))
	c, err := net.DialTimeout("tcp", addr, time.Duration(*wait)*time.Second)
	if err != nil {
		if *verbose {
			fmt.Fprintf(stderr, "nc: connect to %s failed: %v\n", addr, err)
		}
		return err
	}
	c.Close()
	if *verbose {
		fmt.Fprintf(stderr, "Connection to %s port %s succeeded!\n", fs.Arg(0), fs.Arg(1))
	}
	return nil
}

// runAsTool is main's first step: started as a tool, run it and exit.
func runAsTool() {
	if status, ok := runTool(os.Args, os.Stdout, os.Stderr); ok {
		os.Exit(status)
	}
}
