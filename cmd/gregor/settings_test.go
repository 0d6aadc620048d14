package main

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/gregor-broker/gregor/broker"
	"github.com/gregor-broker/gregor/nameserver"
)

// noDefault are the rows without a def, each with its reason: their default
// depends on other settings, or they have none.
var noDefault = map[string]string{
	"broker.id":                       "older name of node.id",
	"cluster.id":                      "made at first start",
	"advertised.listeners":            "follows listeners",
	"advertised.host.name":            "the machine's host name",
	"listener.security.protocol.map":  "follows the listener names",
	"controller.listener.names":       "none",
	"log.retention.minutes":           "log.retention.ms's default",
	"log.retention.hours":             "log.retention.ms's default",
	"log.dir":                         "log.dirs's default",
	"nameservers":                     "standalone: in-process; gregor broker: brokerDef",
	"broker.name":                     "follows node.id",
	"broker.rack":                     "none",
	"replication.listener":            "standalone: none; gregor broker: brokerDef",
	"replication.advertised.listener": "follows replication.listener",
}

// effective is what a Config means once the packages have filled it: the
// broker's configuration through EnsureDefaults, plus the command's own
// settings. Funcs, loggers and the filesystem are left out (not settings).
type effective struct {
	Broker              broker.Config
	HTTP, Level, Format string
	PProf               bool
}

func effectiveOf(c Config) effective {
	bc := c.brokerConfig()
	bc.EnsureDefaults()
	return effective{Broker: normalizeBroker(bc), HTTP: c.HTTPListener, Level: c.LogLevel, Format: c.LogFormat, PProf: c.PProf}
}

func normalizeBroker(bc broker.Config) broker.Config {
	bc.Logger, bc.Store.Logger, bc.Store.Decompress, bc.Store.FS = nil, nil, nil, nil
	for i := range bc.Listeners {
		bc.Listeners[i].Advertised = ""
	}
	return bc
}

// packageWant is the effective configuration the packages' EnsureDefaults
// give, with the command's own defaults beside it.
func packageWant(brokerCmd bool) effective {
	bc := broker.Config{Topics: broker.TopicDefaults{AutoCreate: broker.DefaultAutoCreateTopics}}
	bc.Store.Dir = defaultDataDir
	if brokerCmd {
		bc.Cluster.NameServers = []string{broker.DefaultNameServer}
		bc.Replication.Listener = broker.DefaultReplicationListener
	}
	bc.EnsureDefaults()
	return effective{Broker: normalizeBroker(bc), HTTP: defaultHTTPListener, Level: defaultLogLevel, Format: defaultLogFormat}
}

// TestSettingDefaults holds the settings table to the packages'
// EnsureDefaults: with nothing set the command configures exactly what
// EnsureDefaults gives, and setting any row to the default its usage shows
// (def, brokerDef) changes nothing. A default changed on one side only — a
// literal in a row or in defaultConfig, or a package default the table does
// not read — fails here.
func TestSettingDefaults(t *testing.T) {
	for _, brokerCmd := range []bool{false, true} {
		t.Run(fmt.Sprintf("broker=%v", brokerCmd), func(t *testing.T) {
			base, d := defaultConfig(), defaultConfig()
			if brokerCmd {
				base, d = brokerDefaultConfig(), brokerDefaultConfig()
			}
			want := packageWant(brokerCmd)
			parse := func(values map[string]string) effective {
				t.Helper()
				c, err := parseConfigOver(base, &loaded{values: values, src: &sources{}})
				if err != nil {
					t.Fatalf("%v: %v", values, err)
				}
				return effectiveOf(c)
			}
			if got := parse(map[string]string{}); !reflect.DeepEqual(got, want) {
				t.Fatalf("nothing set:\n got %+v\nwant %+v", got, want)
			}
			for _, s := range settings {
				def := s.def
				if brokerCmd && s.brokerDef != nil {
					def = s.brokerDef
				}
				if def == nil {
					if _, ok := noDefault[s.key]; !ok {
						t.Errorf("%s has no def and is not in noDefault", s.key)
					}
					continue
				}
				text := def(&d)
				if got := parse(map[string]string{s.key: text}); !reflect.DeepEqual(got, want) {
					t.Errorf("%s=%q (its default) changes the configuration:\n got %+v\nwant %+v", s.key, text, got, want)
				}
			}
		})
	}
}

// The usage of every row with a default shows it, as the packages give it.
func TestSettingUsageShowsDefault(t *testing.T) {
	cmd := newBrokerCommand()
	f := cmd.Flags().Lookup("nameservers")
	if !strings.HasSuffix(f.Usage, "(default "+broker.DefaultNameServer+")") {
		t.Errorf("--nameservers usage under gregor broker: %q", f.Usage)
	}
	f = newStandaloneCommand().Flags().Lookup("log.flush.interval.ms")
	if want := fmt.Sprintf("(default %d)", packageDefaults().Store.FlushInterval.Milliseconds()); !strings.HasSuffix(f.Usage, want) {
		t.Errorf("--log.flush.interval.ms usage %q lacks %s", f.Usage, want)
	}
}

// `gregor broker`'s own flags are other names of settings rows: parsed and
// checked like them, the intervals also as durations.
func TestBrokerFlagAliases(t *testing.T) {
	clearEnv(t)
	cmd := newBrokerCommand()
	args := []string{"--cluster", "c", "--broker-name", "g", "--broker-id", "2", "--node-id", "7",
		"--register-interval", "250ms", "--route-refresh-interval", "1500", "--data-dir", t.TempDir()}
	if err := cmd.Flags().Parse(args); err != nil {
		t.Fatal(err)
	}
	l, err := load(cmd.Flags(), nil)
	if err != nil {
		t.Fatal(err)
	}
	c, err := parseConfigOver(brokerDefaultConfig(), l)
	if err != nil {
		t.Fatal(err)
	}
	cc := c.Cluster
	if cc.Name != "c" || cc.BrokerName != "g" || cc.BrokerID != 2 || c.NodeID != 7 ||
		cc.RegisterInterval != 250*time.Millisecond || cc.RouteRefreshInterval != 1500*time.Millisecond ||
		len(cc.NameServers) != 1 || cc.NameServers[0] != broker.DefaultNameServer || c.Replication.Listener != broker.DefaultReplicationListener {
		t.Fatalf("broker flags: node %d %+v %+v", c.NodeID, cc, c.Replication)
	}
	if newStandaloneCommand().Flags().Lookup("broker-id") != nil {
		t.Error("standalone has gregor broker's --broker-id")
	}
}

// `gregor nameserver`'s flag defaults are nameserver.Config's EnsureDefaults.
func TestNameServerFlagDefaults(t *testing.T) {
	var d nameserver.Config
	d.EnsureDefaults()
	f := newNameServerCommand().Flags()
	for name, want := range map[string]time.Duration{"scan-interval": d.ScanInterval, "expiry": d.BrokerExpiry, "lease-duration": d.LeaseDuration} {
		if got, err := f.GetDuration(name); err != nil || got != want {
			t.Errorf("--%s default %v (%v), want %v", name, got, err, want)
		}
	}
}
