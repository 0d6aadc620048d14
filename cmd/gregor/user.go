package main

// `gregor user`: SCRAM users of a broker, through Kafka's
// DescribeUserScramCredentials and AlterUserScramCredentials, so it works
// against gregor and Kafka alike (kafka-configs --entity-type users does the
// same). The password is salted here; only the salted password travels.

import (
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
)

func newUserCommand() *cobra.Command {
	f := &clientFlags{}
	cmd := &cobra.Command{
		Use:   "user",
		Short: "Add, list and delete SASL/SCRAM users (stored salted in the commit log)",
	}
	addClientFlags(cmd, f)
	cmd.AddCommand(userAdd(f), userList(f), userDelete(f))
	return cmd
}

func scramMechanism(s string) (kadm.ScramMechanism, error) {
	switch strings.ToUpper(s) {
	case "SCRAM-SHA-256":
		return kadm.ScramSha256, nil
	case "SCRAM-SHA-512":
		return kadm.ScramSha512, nil
	}
	return 0, fmt.Errorf("--mechanism %q: give SCRAM-SHA-256 or SCRAM-SHA-512", s)
}

func userAdd(f *clientFlags) *cobra.Command {
	var mechs []string
	var password string
	var iterations int32
	cmd := &cobra.Command{
		Use:   "add NAME",
		Short: "Create a user or change its password (--password, or GREGOR_USER_PASSWORD)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if password == "" {
				password = os.Getenv("GREGOR_USER_PASSWORD")
			}
			if password == "" {
				return fmt.Errorf("give the password with --password or GREGOR_USER_PASSWORD")
			}
			var ups []kadm.UpsertSCRAM
			for _, m := range mechs {
				mech, err := scramMechanism(m)
				if err != nil {
					return err
				}
				ups = append(ups, kadm.UpsertSCRAM{User: args[0], Mechanism: mech, Iterations: iterations, Password: password})
			}
			adm, ctx, done, err := f.admin(cmd.Context())
			if err != nil {
				return err
			}
			defer done()
			// One request per mechanism: Kafka refuses a user altered
			// twice in one request (DUPLICATE_RESOURCE).
			for _, up := range ups {
				res, err := adm.AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{up})
				if err != nil {
					return err
				}
				if err := res.Error(); err != nil {
					return fmt.Errorf("user %s: %w", args[0], err)
				}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "user %s: %s set\n", args[0], strings.Join(mechs, ", "))
			return nil
		},
	}
	cmd.Flags().StringSliceVar(&mechs, "mechanism", []string{"SCRAM-SHA-256", "SCRAM-SHA-512"}, "SCRAM mechanisms to store a credential for")
	cmd.Flags().StringVar(&password, "password", "", "the password (visible in the process list; prefer GREGOR_USER_PASSWORD)")
	cmd.Flags().Int32Var(&iterations, "iterations", 8192, "SCRAM iterations (4096–16384)")
	return cmd
}

// userRow is one credential in `user list`.
type userRow struct {
	User       string `json:"user"`
	Mechanism  string `json:"mechanism"`
	Iterations int32  `json:"iterations"`
}

func userList(f *clientFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "list [NAME…]",
		Short: "List users and their SCRAM mechanisms (never the keys)",
		RunE: func(cmd *cobra.Command, args []string) error {
			adm, ctx, done, err := f.admin(cmd.Context())
			if err != nil {
				return err
			}
			defer done()
			res, err := adm.DescribeUserSCRAMs(ctx, args...)
			if err != nil {
				return err
			}
			if err := res.Error(); err != nil {
				return err
			}
			rows := []userRow{}
			for _, d := range res {
				for _, ci := range d.CredInfos {
					rows = append(rows, userRow{User: d.User, Mechanism: ci.Mechanism.String(), Iterations: ci.Iterations})
				}
			}
			sort.Slice(rows, func(i, j int) bool {
				if rows[i].User != rows[j].User {
					return rows[i].User < rows[j].User
				}
				return rows[i].Mechanism < rows[j].Mechanism
			})
			if f.json {
				return printJSON(cmd.OutOrStdout(), rows)
			}
			out := [][]string{{"USER", "MECHANISM", "ITERATIONS"}}
			for _, r := range rows {
				out = append(out, []string{r.User, r.Mechanism, fmt.Sprint(r.Iterations)})
			}
			return table(cmd.OutOrStdout(), out)
		},
	}
}

func userDelete(f *clientFlags) *cobra.Command {
	var mechs []string
	cmd := &cobra.Command{
		Use:   "delete NAME",
		Short: "Delete a user's SCRAM credentials",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			adm, ctx, done, err := f.admin(cmd.Context())
			if err != nil {
				return err
			}
			defer done()
			if len(mechs) == 0 {
				// Every mechanism the user has.
				res, err := adm.DescribeUserSCRAMs(ctx, args[0])
				if err != nil {
					return err
				}
				if err := res.Error(); err != nil {
					return err
				}
				for _, ci := range res[args[0]].CredInfos {
					mechs = append(mechs, ci.Mechanism.String())
				}
			}
			var dels []kadm.DeleteSCRAM
			for _, m := range mechs {
				mech, err := scramMechanism(m)
				if err != nil {
					return err
				}
				dels = append(dels, kadm.DeleteSCRAM{User: args[0], Mechanism: mech})
			}
			for _, d := range dels {
				res, err := adm.AlterUserSCRAMs(ctx, []kadm.DeleteSCRAM{d}, nil)
				if err != nil {
					return err
				}
				if err := res.Error(); err != nil {
					return fmt.Errorf("user %s: %w", args[0], err)
				}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "user %s: %s deleted\n", args[0], strings.Join(mechs, ", "))
			return nil
		},
	}
	cmd.Flags().StringSliceVar(&mechs, "mechanism", nil, "mechanisms to delete (default: all the user has)")
	return cmd
}
