package main

// `gregor cluster`: a broker group's state and a manual change of term,
// through a broker's HTTP port (broker/promote.go).

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/spf13/cobra"
)

func newClusterCommand() *cobra.Command {
	var (
		httpAddr string
		timeout  time.Duration
	)
	cmd := &cobra.Command{
		Use:   "cluster",
		Short: "Show a broker group member's replication state; hand mastership to a slave",
	}
	cmd.PersistentFlags().StringVar(&httpAddr, "http", "127.0.0.1:8080", "HTTP address (http.listener) of a member of the broker group")
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
		member int64
		force  bool
	)
	promote := &cobra.Command{
		Use:   "promote --member N",
		Short: "Make member N of the group master of a new term",
		Long: `Make member N (broker.member.id) of the broker group that --http belongs to the
master of a new term. The master steps down first (it stops acknowledging
writes), member N catches up to the master's end, begins term epoch+1, and the
old master follows it. --force skips the hand-over, for a master that is gone:
what it alone had is lost and is truncated on it when it returns.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if member < 0 {
				return fmt.Errorf("--member: give the broker.member.id to promote")
			}
			q := url.Values{"member": {strconv.FormatInt(member, 10)}}
			if force {
				q.Set("force", "true")
			}
			return httpCall(cmd, http.MethodPost, "http://"+httpAddr+"/cluster/promote?"+q.Encode(), timeout)
		},
	}
	promote.Flags().Int64Var(&member, "member", -1, "broker.member.id of the slave to promote")
	promote.Flags().BoolVar(&force, "force", false, "do not ask the master to step down (it is gone)")
	cmd.AddCommand(status, promote)
	return cmd
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
