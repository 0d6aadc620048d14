package main

import (
	"github.com/gregor-broker/gregor/internal/bench"
	"github.com/spf13/cobra"
)

// addExtraCommands wires in commands other packages own: `gregor bench`.
func addExtraCommands(root *cobra.Command) {
	root.AddCommand(bench.NewCommand(), newUserCommand())
}
