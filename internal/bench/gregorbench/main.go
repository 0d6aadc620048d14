// Command gregorbench is `gregor bench` as a binary of its own, for running
// the load tool where the gregor binary is not built (e.g. against Kafka
// from another checkout). It is the same command: gregorbench produce … =
// gregor bench produce ….
package main

import (
	"os"

	"github.com/gregor-broker/gregor/internal/bench"
)

func main() {
	cmd := bench.NewCommand()
	cmd.Use = "gregorbench"
	if err := cmd.Execute(); err != nil {
		os.Exit(1)
	}
}
