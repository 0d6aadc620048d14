package main

import (
	"fmt"
	"sort"

	"github.com/spf13/cobra"
)

// newGroupCommand is `gregor group`: consumer group administration against
// any Kafka-protocol address, built on kadm.
func newGroupCommand() *cobra.Command {
	f := &clientFlags{}
	cmd := &cobra.Command{
		Use:   "group",
		Short: "List, describe and delete consumer groups on any Kafka address",
	}
	addClientFlags(cmd, f)
	cmd.AddCommand(groupList(f), groupDescribe(f), groupDelete(f))
	return cmd
}

// groupRow is one group in `group list`.
type groupRow struct {
	Group        string `json:"group"`
	State        string `json:"state"`
	ProtocolType string `json:"protocol_type"`
	Coordinator  int32  `json:"coordinator"`
}

func groupList(f *clientFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List consumer groups",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			adm, ctx, done, err := f.admin(cmd.Context())
			if err != nil {
				return err
			}
			defer done()
			gs, err := adm.ListGroups(ctx)
			if err != nil {
				return err
			}
			rows := []groupRow{}
			for _, g := range gs.Sorted() {
				rows = append(rows, groupRow{Group: g.Group, State: g.State, ProtocolType: g.ProtocolType, Coordinator: g.Coordinator})
			}
			if f.json {
				return printJSON(cmd.OutOrStdout(), rows)
			}
			out := [][]string{{"GROUP", "STATE", "PROTOCOL-TYPE", "COORDINATOR"}}
			for _, r := range rows {
				out = append(out, []string{r.Group, r.State, r.ProtocolType, fmt.Sprint(r.Coordinator)})
			}
			return table(cmd.OutOrStdout(), out)
		},
	}
}

// describedGroup is one group in `group describe`.
type describedGroup struct {
	Group        string            `json:"group"`
	State        string            `json:"state"`
	ProtocolType string            `json:"protocol_type"`
	Protocol     string            `json:"protocol"`
	Coordinator  int32             `json:"coordinator"`
	Members      []describedMember `json:"members"`
	Offsets      []describedOffset `json:"offsets"`
	TotalLag     int64             `json:"total_lag"`
	Error        string            `json:"error,omitempty"`
}

type describedMember struct {
	MemberID   string  `json:"member_id"`
	InstanceID *string `json:"instance_id,omitempty"`
	ClientID   string  `json:"client_id"`
	ClientHost string  `json:"client_host"`
}

type describedOffset struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Committed int64  `json:"committed"`
	End       int64  `json:"end"`
	Lag       int64  `json:"lag"`
	MemberID  string `json:"member_id,omitempty"`
	Error     string `json:"error,omitempty"`
}

func groupDescribe(f *clientFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "describe GROUP...",
		Short: "Show groups' state, members and per-partition committed offsets and lag",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			adm, ctx, done, err := f.admin(cmd.Context())
			if err != nil {
				return err
			}
			defer done()
			lags, err := adm.Lag(ctx, args...)
			if err != nil {
				return err
			}
			var out []describedGroup
			failed := 0
			for _, name := range args {
				l, ok := lags[name]
				dg := describedGroup{Group: name, Members: []describedMember{}, Offsets: []describedOffset{}}
				if !ok {
					dg.Error = "group not described"
					failed++
					out = append(out, dg)
					continue
				}
				dg.State, dg.ProtocolType, dg.Protocol, dg.Coordinator = l.State, l.ProtocolType, l.Protocol, l.Coordinator.NodeID
				if err := l.Error(); err != nil {
					dg.Error = err.Error()
					failed++
				}
				for _, m := range l.Members {
					dg.Members = append(dg.Members, describedMember{MemberID: m.MemberID, InstanceID: m.InstanceID, ClientID: m.ClientID, ClientHost: m.ClientHost})
				}
				for _, ml := range l.Lag.Sorted() {
					o := describedOffset{Topic: ml.Topic, Partition: ml.Partition, Committed: ml.Commit.At, End: ml.End.Offset, Lag: ml.Lag}
					if ml.Member != nil {
						o.MemberID = ml.Member.MemberID
					}
					if ml.Err != nil {
						o.Error = ml.Err.Error()
					}
					dg.Offsets = append(dg.Offsets, o)
				}
				dg.TotalLag = l.Lag.Total()
				out = append(out, dg)
			}
			if f.json {
				if err := printJSON(cmd.OutOrStdout(), out); err != nil {
					return err
				}
				return failures("group description(s)", failed)
			}
			w := cmd.OutOrStdout()
			for i, dg := range out {
				if i > 0 {
					fmt.Fprintln(w)
				}
				proto := dg.ProtocolType
				if dg.Protocol != "" {
					proto += "/" + dg.Protocol // e.g. consumer/range
				}
				fmt.Fprintf(w, "Group: %s  State: %s  Protocol: %s  Coordinator: %d  Members: %d  Lag: %d\n",
					dg.Group, dg.State, proto, dg.Coordinator, len(dg.Members), dg.TotalLag)
				if dg.Error != "" {
					fmt.Fprintf(w, "Error: %s\n", dg.Error)
				}
				if len(dg.Offsets) > 0 {
					rows := [][]string{{"TOPIC", "PARTITION", "COMMITTED", "END", "LAG", "MEMBER"}}
					for _, o := range dg.Offsets {
						rows = append(rows, []string{o.Topic, fmt.Sprint(o.Partition), fmt.Sprint(o.Committed), fmt.Sprint(o.End), fmt.Sprint(o.Lag), o.MemberID})
					}
					if err := table(w, rows); err != nil {
						return err
					}
				}
				if len(dg.Members) > 0 {
					rows := [][]string{{"MEMBER", "CLIENT-ID", "HOST"}}
					for _, m := range dg.Members {
						rows = append(rows, []string{m.MemberID, m.ClientID, m.ClientHost})
					}
					if err := table(w, rows); err != nil {
						return err
					}
				}
			}
			return failures("group description(s)", failed)
		},
	}
}

func groupDelete(f *clientFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "delete GROUP...",
		Short: "Delete consumer groups (they must be empty)",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			adm, ctx, done, err := f.admin(cmd.Context())
			if err != nil {
				return err
			}
			defer done()
			resps, err := adm.DeleteGroups(ctx, args...)
			if err != nil {
				return err
			}
			rows := []resultRow{}
			for _, r := range resps {
				rows = append(rows, resultRow{Name: r.Group, Error: errText(r.Err, r.ErrMessage)})
			}
			sort.Slice(rows, func(i, j int) bool { return rows[i].Name < rows[j].Name })
			failed, err := printResults(cmd, f, "GROUP", rows)
			if err != nil {
				return err
			}
			return failures("group deletion(s)", failed)
		},
	}
}
