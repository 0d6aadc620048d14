package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// newHealthcheckCommand is `gregor healthcheck`: exit 0 when the local
// broker serves. An image built FROM scratch has no shell, curl or nc, so
// the compose HEALTHCHECK runs the binary itself. It reads the same
// configuration as the broker (the container's KAFKA_* variables), so it
// knows the listener and the HTTP port without being told.
func newHealthcheckCommand() *cobra.Command {
	var (
		bootstrap     string
		commandConfig string
		timeout       time.Duration
	)
	cmd := &cobra.Command{
		Use:   "healthcheck",
		Short: "Exit 0 when the local broker answers Kafka requests and /readyz",
		Long: `Exit 0 when the local broker answers an ApiVersions request on its first
listener and, when http.listener is set, /readyz says ready. Exit 1 otherwise.
Reads the same configuration as gregor standalone; --bootstrap-server overrides
the Kafka address.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, _, err := configFromCommand(cmd, cmdStandalone)
			if err != nil {
				return err
			}
			addr := bootstrap
			if addr == "" {
				addr = dialable(cfg.Listeners[0].Address)
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			opts, err := commandConfigOpts(commandConfig, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			if err := apiVersions(ctx, addr, opts...); err != nil {
				return fmt.Errorf("kafka at %s: %w", addr, err)
			}
			if cfg.HTTPListener != "" {
				scheme := "http"
				if cfg.HTTPTLS {
					scheme = "https"
				}
				url := scheme + "://" + dialable(cfg.HTTPListener) + "/readyz"
				if err := getOK(ctx, url); err != nil {
					return fmt.Errorf("%s: %w", url, err)
				}
			}
			_, err = fmt.Fprintln(cmd.OutOrStdout(), "ok")
			return err
		},
	}
	addSettingFlags(cmd.Flags(), cmdStandalone)
	cmd.Flags().StringVarP(&bootstrap, "bootstrap-server", "b", "", "Kafka address to check (default: the first listener)")
	cmd.Flags().StringVar(&commandConfig, "command-config", os.Getenv("GREGOR_COMMAND_CONFIG"), "Kafka client properties file with the TLS and SASL settings of that listener (also GREGOR_COMMAND_CONFIG)")
	cmd.Flags().DurationVar(&timeout, "timeout", 5*time.Second, "give up after this long")
	return cmd
}

// dialable turns a bind address into one to connect to: the any-address
// becomes loopback.
func dialable(bind string) string {
	host, port, err := net.SplitHostPort(bind)
	if err != nil {
		return bind
	}
	if host == "" || host == "0.0.0.0" {
		host = "127.0.0.1"
	} else if host == "::" {
		host = "::1"
	}
	return net.JoinHostPort(host, port)
}

// apiVersions does one ApiVersions round trip with addr.
func apiVersions(ctx context.Context, addr string, opts ...kgo.Opt) error {
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr), kgo.RequestRetries(0)}, opts...)...)
	if err != nil {
		return err
	}
	defer cl.Close()
	req := kmsg.NewPtrApiVersionsRequest()
	req.ClientSoftwareName = "gregor-healthcheck"
	req.ClientSoftwareVersion = version
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return err
	}
	if resp.ErrorCode != 0 {
		return fmt.Errorf("ApiVersions error code %d", resp.ErrorCode)
	}
	return nil
}

func getOK(ctx context.Context, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	// The local port's own certificate need not name the probed address;
	// /readyz tells nothing secret.
	cl := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	resp, err := cl.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %s", resp.Status)
	}
	return nil
}
