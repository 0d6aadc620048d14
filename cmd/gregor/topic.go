package main

import (
	"fmt"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

// newTopicCommand is `gregor topic`: topic administration against any
// Kafka-protocol address, built on kadm.
func newTopicCommand() *cobra.Command {
	f := &clientFlags{}
	cmd := &cobra.Command{
		Use:   "topic",
		Short: "List, create, describe, delete and configure topics on any Kafka address",
	}
	addClientFlags(cmd, f)
	cmd.AddCommand(topicList(f), topicCreate(f), topicDescribe(f), topicDelete(f), topicAlterConfig(f))
	return cmd
}

// topicRow is one topic in `topic list`.
type topicRow struct {
	Topic             string `json:"topic"`
	ID                string `json:"id"`
	Partitions        int    `json:"partitions"`
	ReplicationFactor int    `json:"replication_factor"`
	Internal          bool   `json:"internal,omitempty"`
}

func topicList(f *clientFlags) *cobra.Command {
	var internal bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List topics",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			adm, ctx, done, err := f.admin(cmd.Context())
			if err != nil {
				return err
			}
			defer done()
			var tds kadm.TopicDetails
			if internal {
				tds, err = adm.ListTopicsWithInternal(ctx)
			} else {
				tds, err = adm.ListTopics(ctx)
			}
			if err != nil {
				return err
			}
			rows := []topicRow{}
			for _, td := range tds.Sorted() {
				rf := 0
				if len(td.Partitions) > 0 {
					rf = len(td.Partitions.Sorted()[0].Replicas)
				}
				rows = append(rows, topicRow{Topic: td.Topic, ID: topicID(td.ID), Partitions: len(td.Partitions), ReplicationFactor: rf, Internal: td.IsInternal})
			}
			sort.Slice(rows, func(i, j int) bool { return rows[i].Topic < rows[j].Topic })
			if f.json {
				return printJSON(cmd.OutOrStdout(), rows)
			}
			out := [][]string{{"TOPIC", "PARTITIONS", "REPLICATION", "ID"}}
			for _, r := range rows {
				out = append(out, []string{r.Topic, fmt.Sprint(r.Partitions), fmt.Sprint(r.ReplicationFactor), r.ID})
			}
			return table(cmd.OutOrStdout(), out)
		},
	}
	cmd.Flags().BoolVar(&internal, "internal", false, "include internal topics (__consumer_offsets)")
	return cmd
}

// parseKV parses key=value pairs from --config / --set flags.
func parseKV(pairs []string) (map[string]*string, error) {
	out := map[string]*string{}
	for _, p := range pairs {
		k, v, ok := strings.Cut(p, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("%q is not key=value", p)
		}
		out[k] = kadm.StringPtr(v)
	}
	return out, nil
}

// createdRow is one topic in `topic create`.
type createdRow struct {
	Topic             string `json:"topic"`
	ID                string `json:"id,omitempty"`
	Partitions        int32  `json:"partitions"`
	ReplicationFactor int16  `json:"replication_factor"`
	Error             string `json:"error,omitempty"`
}

func topicCreate(f *clientFlags) *cobra.Command {
	var (
		partitions  int32
		replication int16
		configs     []string
		ifNotExists bool
	)
	cmd := &cobra.Command{
		Use:   "create TOPIC...",
		Short: "Create topics",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfgs, err := parseKV(configs)
			if err != nil {
				return err
			}
			adm, ctx, done, err := f.admin(cmd.Context())
			if err != nil {
				return err
			}
			defer done()
			resps, err := adm.CreateTopics(ctx, partitions, replication, cfgs, args...)
			if err != nil {
				return err
			}
			rows := []createdRow{}
			failed := 0
			for _, r := range resps.Sorted() {
				row := createdRow{Topic: r.Topic, Partitions: r.NumPartitions, ReplicationFactor: r.ReplicationFactor}
				if r.ID != (kadm.TopicID{}) {
					row.ID = topicID(r.ID)
				}
				if r.Err != nil && !(ifNotExists && r.Err == kerr.TopicAlreadyExists) {
					row.Error = errText(r.Err, r.ErrMessage)
					failed++
				}
				rows = append(rows, row)
			}
			sort.Slice(rows, func(i, j int) bool { return rows[i].Topic < rows[j].Topic })
			if f.json {
				if err := printJSON(cmd.OutOrStdout(), rows); err != nil {
					return err
				}
			} else {
				out := [][]string{{"TOPIC", "PARTITIONS", "REPLICATION", "ID", "ERROR"}}
				for _, r := range rows {
					out = append(out, []string{r.Topic, fmt.Sprint(r.Partitions), fmt.Sprint(r.ReplicationFactor), r.ID, r.Error})
				}
				if err := table(cmd.OutOrStdout(), out); err != nil {
					return err
				}
			}
			return failures("topic creation(s)", failed)
		},
	}
	cmd.Flags().Int32VarP(&partitions, "partitions", "p", -1, "partitions (-1: the broker's num.partitions)")
	cmd.Flags().Int16VarP(&replication, "replication-factor", "r", -1, "replication factor (-1: the broker's default.replication.factor)")
	cmd.Flags().StringArrayVar(&configs, "config", nil, "topic config key=value (repeatable), e.g. retention.ms=60000")
	cmd.Flags().BoolVar(&ifNotExists, "if-not-exists", false, "succeed when the topic already exists")
	return cmd
}

// describedTopic is one topic in `topic describe`.
type describedTopic struct {
	Topic      string            `json:"topic"`
	ID         string            `json:"id"`
	Internal   bool              `json:"internal,omitempty"`
	Partitions []describedPart   `json:"partitions"`
	Configs    []describedConfig `json:"configs"`
	Error      string            `json:"error,omitempty"`
}

type describedPart struct {
	Partition   int32   `json:"partition"`
	Leader      int32   `json:"leader"`
	LeaderEpoch int32   `json:"leader_epoch"`
	Replicas    []int32 `json:"replicas"`
	ISR         []int32 `json:"isr"`
	Offline     []int32 `json:"offline_replicas,omitempty"`
	StartOffset int64   `json:"start_offset"`
	EndOffset   int64   `json:"end_offset"`
	Error       string  `json:"error,omitempty"`
}

type describedConfig struct {
	Name   string `json:"name"`
	Value  string `json:"value"`
	Source string `json:"source"`
}

func topicDescribe(f *clientFlags) *cobra.Command {
	var allConfigs bool
	cmd := &cobra.Command{
		Use:   "describe TOPIC...",
		Short: "Show topics' partitions (leader, replicas, ISR, offsets) and configs",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			adm, ctx, done, err := f.admin(cmd.Context())
			if err != nil {
				return err
			}
			defer done()
			tds, err := adm.ListTopicsWithInternal(ctx, args...)
			if err != nil {
				return err
			}
			starts, err := adm.ListStartOffsets(ctx, args...)
			if err != nil {
				return err
			}
			ends, err := adm.ListEndOffsets(ctx, args...)
			if err != nil {
				return err
			}
			rcs, err := adm.DescribeTopicConfigs(ctx, args...)
			if err != nil {
				return err
			}
			configs := map[string][]describedConfig{}
			for _, rc := range rcs {
				cs := []describedConfig{}
				for _, c := range rc.Configs {
					if !allConfigs && c.Source.String() == "DEFAULT_CONFIG" {
						continue
					}
					cs = append(cs, describedConfig{Name: c.Key, Value: c.MaybeValue(), Source: c.Source.String()})
				}
				sort.Slice(cs, func(i, j int) bool { return cs[i].Name < cs[j].Name })
				configs[rc.Name] = cs
			}
			var out []describedTopic
			failed := 0
			for _, name := range args {
				td, ok := tds[name]
				dt := describedTopic{Topic: name, Partitions: []describedPart{}, Configs: configs[name]}
				if dt.Configs == nil {
					dt.Configs = []describedConfig{}
				}
				if !ok {
					dt.Error = "UNKNOWN_TOPIC_OR_PARTITION"
					failed++
					out = append(out, dt)
					continue
				}
				dt.ID, dt.Internal = topicID(td.ID), td.IsInternal
				if td.Err != nil {
					dt.Error = td.Err.Error()
					failed++
				}
				for _, p := range td.Partitions.Sorted() {
					dp := describedPart{Partition: p.Partition, Leader: p.Leader, LeaderEpoch: p.LeaderEpoch, Replicas: p.Replicas, ISR: p.ISR, Offline: p.OfflineReplicas, StartOffset: -1, EndOffset: -1}
					if p.Err != nil {
						dp.Error = p.Err.Error()
					}
					if o, ok := starts.Lookup(name, p.Partition); ok && o.Err == nil {
						dp.StartOffset = o.Offset
					}
					if o, ok := ends.Lookup(name, p.Partition); ok && o.Err == nil {
						dp.EndOffset = o.Offset
					}
					dt.Partitions = append(dt.Partitions, dp)
				}
				out = append(out, dt)
			}
			if f.json {
				if err := printJSON(cmd.OutOrStdout(), out); err != nil {
					return err
				}
				return failures("topic description(s)", failed)
			}
			w := cmd.OutOrStdout()
			for i, dt := range out {
				if i > 0 {
					fmt.Fprintln(w)
				}
				if dt.Error != "" {
					fmt.Fprintf(w, "Topic: %s  Error: %s\n", dt.Topic, dt.Error)
					continue
				}
				fmt.Fprintf(w, "Topic: %s  ID: %s  Partitions: %d\n", dt.Topic, dt.ID, len(dt.Partitions))
				rows := [][]string{{"PARTITION", "LEADER", "EPOCH", "REPLICAS", "ISR", "OFFLINE", "START", "END", "ERROR"}}
				for _, p := range dt.Partitions {
					rows = append(rows, []string{fmt.Sprint(p.Partition), fmt.Sprint(p.Leader), fmt.Sprint(p.LeaderEpoch), joinInts(p.Replicas), joinInts(p.ISR), joinInts(p.Offline), fmt.Sprint(p.StartOffset), fmt.Sprint(p.EndOffset), p.Error})
				}
				if err := table(w, rows); err != nil {
					return err
				}
				if len(dt.Configs) > 0 {
					rows := [][]string{{"CONFIG", "VALUE", "SOURCE"}}
					for _, c := range dt.Configs {
						rows = append(rows, []string{c.Name, c.Value, c.Source})
					}
					fmt.Fprintln(w)
					if err := table(w, rows); err != nil {
						return err
					}
				}
			}
			return failures("topic description(s)", failed)
		},
	}
	cmd.Flags().BoolVar(&allConfigs, "all-configs", false, "list every config, defaults included")
	return cmd
}

// resultRow is one item of a delete or alter command.
type resultRow struct {
	Name  string `json:"name"`
	Error string `json:"error,omitempty"`
}

// printResults prints delete/alter results and counts the failures.
func printResults(cmd *cobra.Command, f *clientFlags, header string, rows []resultRow) (int, error) {
	failed := 0
	for _, r := range rows {
		if r.Error != "" {
			failed++
		}
	}
	if f.json {
		return failed, printJSON(cmd.OutOrStdout(), rows)
	}
	out := [][]string{{header, "RESULT"}}
	for _, r := range rows {
		res := "ok"
		if r.Error != "" {
			res = r.Error
		}
		out = append(out, []string{r.Name, res})
	}
	return failed, table(cmd.OutOrStdout(), out)
}

func topicDelete(f *clientFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "delete TOPIC...",
		Short: "Delete topics",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			adm, ctx, done, err := f.admin(cmd.Context())
			if err != nil {
				return err
			}
			defer done()
			resps, err := adm.DeleteTopics(ctx, args...)
			if err != nil {
				return err
			}
			rows := []resultRow{}
			for _, r := range resps.Sorted() {
				rows = append(rows, resultRow{Name: r.Topic, Error: errText(r.Err, r.ErrMessage)})
			}
			sort.Slice(rows, func(i, j int) bool { return rows[i].Name < rows[j].Name })
			failed, err := printResults(cmd, f, "TOPIC", rows)
			if err != nil {
				return err
			}
			return failures("topic deletion(s)", failed)
		},
	}
}

func topicAlterConfig(f *clientFlags) *cobra.Command {
	var (
		set    []string
		delete []string
		dryRun bool
	)
	cmd := &cobra.Command{
		Use:   "alter-config TOPIC... --set key=value --delete key",
		Short: "Set or remove topic configs (IncrementalAlterConfigs)",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			kvs, err := parseKV(set)
			if err != nil {
				return err
			}
			if len(kvs) == 0 && len(delete) == 0 {
				return fmt.Errorf("nothing to change: give --set key=value or --delete key")
			}
			var alters []kadm.AlterConfig
			for _, k := range sortedKeys(kvs) {
				alters = append(alters, kadm.AlterConfig{Op: kadm.SetConfig, Name: k, Value: kvs[k]})
			}
			for _, k := range delete {
				alters = append(alters, kadm.AlterConfig{Op: kadm.DeleteConfig, Name: k})
			}
			adm, ctx, done, err := f.admin(cmd.Context())
			if err != nil {
				return err
			}
			defer done()
			var resps kadm.AlterConfigsResponses
			if dryRun {
				resps, err = adm.ValidateAlterTopicConfigs(ctx, alters, args...)
			} else {
				resps, err = adm.AlterTopicConfigs(ctx, alters, args...)
			}
			if err != nil {
				return err
			}
			rows := []resultRow{}
			for _, r := range resps {
				rows = append(rows, resultRow{Name: r.Name, Error: errText(r.Err, r.ErrMessage)})
			}
			sort.Slice(rows, func(i, j int) bool { return rows[i].Name < rows[j].Name })
			failed, err := printResults(cmd, f, "TOPIC", rows)
			if err != nil {
				return err
			}
			return failures("config change(s)", failed)
		},
	}
	cmd.Flags().StringArrayVar(&set, "set", nil, "config to set, key=value (repeatable)")
	cmd.Flags().StringArrayVar(&delete, "delete", nil, "config to remove, back to the broker default (repeatable)")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "only validate the change")
	return cmd
}
