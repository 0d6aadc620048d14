package main

// `gregor cluster`: every group's members, roles, epochs and lags (from
// the NameServers), one member's replication state and a planned change of
// term, through a broker's HTTP port (broker/promote.go).

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/gregor-broker/gregor/broker"
	"github.com/gregor-broker/gregor/nameserver"
	"github.com/spf13/cobra"
)

func newClusterCommand() *cobra.Command {
	var (
		httpAddr string
		timeout  time.Duration
	)
	cmd := &cobra.Command{
		Use:   "cluster",
		Short: "Show the broker groups' members and replication state; hand mastership to an in-sync slave",
	}
	cmd.PersistentFlags().StringVar(&httpAddr, "http", defaultHTTPListener, "HTTP address (http.listener) of a member of the broker group")
	cmd.PersistentFlags().DurationVar(&timeout, "timeout", 60*time.Second, "give up after this long")

	status := &cobra.Command{
		Use:   "status",
		Short: "Print the member's role, epoch, terms, commit-log end, ISR and slaves' lag (JSON)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return httpCall(cmd, http.MethodGet, "http://"+httpAddr+"/cluster/status", timeout)
		},
	}
	var (
		member     int64
		force      bool
		waitInSync time.Duration
	)
	promote := &cobra.Command{
		Use:   "promote --member N",
		Short: "Hand mastership of the group to its in-sync member N (planned maintenance)",
		Long: `Make member N (broker.member.id) of the broker group that --http belongs to the
master of a new term, with no acknowledged write lost. N must be in the
master's in-sync set (see gregor cluster members). The master steps down first
(it stops acknowledging writes: Produce gets NOT_LEADER_OR_FOLLOWER and
clients retry on the new master, idempotent producers without duplicates) and
yields its fail-over lease; member N catches up to the master's end, takes the
lease for the next epoch and begins term epoch+1; the old master follows it.
Kafka's ElectLeaders (kafka-leader-election --election-type PREFERRED) does
the same towards each group's member 0.

Member N checks the in-sync set in the master's registration, which trails
the master by up to a registration and a route poll (3 s + 2 s by default):
right after N restarted or caught up it can still be refused as not in sync,
and promote asks again for up to --wait-in-sync before giving up; so it does
when N did not get the fail-over lease in time (a starved machine).

--force skips the hand-over, for a master that is gone: what it alone had is
lost and is truncated on it when it returns.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if member < 0 {
				return fmt.Errorf("--member: give the broker.member.id to promote")
			}
			q := url.Values{"member": {strconv.FormatInt(member, 10)}}
			if force {
				q.Set("force", "true")
			}
			u := "http://" + httpAddr + "/cluster/promote?" + q.Encode()
			deadline := time.Now().Add(waitInSync)
			for {
				err := httpCall(cmd, http.MethodPost, u, timeout)
				if err == nil || !(strings.Contains(err.Error(), notInSync) || strings.Contains(err.Error(), leaseNotYet)) || time.Now().After(deadline) {
					return err
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "member %d is not in sync yet or did not get the lease; asking again (--wait-in-sync %v): %v\n", member, waitInSync, err)
				time.Sleep(500 * time.Millisecond)
			}
		},
	}
	promote.Flags().Int64Var(&member, "member", -1, "broker.member.id of the slave to promote")
	promote.Flags().BoolVar(&force, "force", false, "do not ask the master to step down (it is gone)")
	promote.Flags().DurationVar(&waitInSync, "wait-in-sync", 15*time.Second, "ask again for this long while the member is refused as not in sync, or did not get the lease in time")
	var (
		nameservers string
		clusterName string
	)
	members := &cobra.Command{
		Use:   "members",
		Short: "Print every broker group's members: role, epoch, log end, in-sync set and each slave's lag",
		Long: `Read the routes from the NameServers (every member registers there) and print
one line per member of every broker group: its Kafka node id, role, the
group's epoch as the member registered it, its commit-log end, and, from its
master's registration, whether it is in sync and how far it lags (bytes and
milliseconds). A group whose master is missing is marked "no master".`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			routes, err := nameserver.NewClient(splitList(nameservers)).WithSecret(os.Getenv("GREGOR_CLUSTER_SECRET")).Routes(ctx)
			if err != nil {
				return err
			}
			return printMembers(cmd.OutOrStdout(), routes, clusterName)
		},
	}
	members.Flags().StringVar(&nameservers, "nameservers", broker.DefaultNameServer, "NameServer addresses (host:port, comma separated)")
	members.Flags().StringVar(&clusterName, "cluster", "", "only the brokers of this cluster (broker.cluster.name)")
	cmd.AddCommand(status, promote, members)
	return cmd
}

// notInSync is in the answer of a promotion refused because the member is
// not in the master's in-sync set (broker/promote.go).
const notInSync = "not in the master's in-sync set"

// leaseNotYet is in the answer of a promotion whose member did not get the
// fail-over lease (nameserver/lease: the master's not yet free, or the
// grants came back too late); the master stays stepped down, asking again
// is harmless.
const leaseNotYet = "lease: "

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// printMembers writes the member table of `gregor cluster members`.
func printMembers(w io.Writer, routes nameserver.Routes, clusterName string) error {
	groups := map[string][]nameserver.Broker{}
	var names []string
	for _, b := range routes.Brokers {
		if clusterName != "" && b.Cluster != clusterName {
			continue
		}
		if _, ok := groups[b.BrokerName]; !ok {
			names = append(names, b.BrokerName)
		}
		groups[b.BrokerName] = append(groups[b.BrokerName], b)
	}
	slices.Sort(names)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "GROUP\tMEMBER\tNODE\tROLE\tEPOCH\tLOG END\tIN SYNC\tLAG BYTES\tLAG MS\tHTTP")
	for _, name := range names {
		ms := groups[name]
		slices.SortFunc(ms, func(a, b nameserver.Broker) int { return int(a.BrokerID - b.BrokerID) })
		var master *nameserver.Broker
		for i := range ms {
			if ms[i].Role == nameserver.RoleMaster && (master == nil || ms[i].MasterEpoch > master.MasterEpoch) {
				master = &ms[i]
			}
		}
		for _, m := range ms {
			inSync, lagB, lagMs := "-", "-", "-"
			switch {
			case master == nil:
				inSync = "no master"
			case m.BrokerID == master.BrokerID:
				inSync = "yes"
				lagB, lagMs = "0", "0"
			default:
				inSync = "no"
				if slices.Contains(master.InSync, m.BrokerID) {
					inSync = "yes"
				}
				for _, s := range master.Slaves {
					if s.Member == m.BrokerID {
						lagB, lagMs = strconv.FormatInt(s.LagBytes, 10), strconv.FormatInt(s.LagMs, 10)
					}
				}
			}
			fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%d\t%d\t%s\t%s\t%s\t%s\n", name, m.BrokerID, m.NodeID, m.Role,
				m.MasterEpoch, m.LogEnd, inSync, lagB, lagMs, m.HTTPAddr)
		}
	}
	return tw.Flush()
}

// httpCall sends one request and prints the answer; a non-2xx answer is an
// error carrying its text.
func httpCall(cmd *cobra.Command, method, u string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, u, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s: %s", resp.Status, body)
	}
	_, err = cmd.OutOrStdout().Write(body)
	return err
}
