package main

import (
	"fmt"
	"go/ast"
	goparser "go/parser"
	"go/token"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/gregor-broker/gregor/broker"
	"github.com/gregor-broker/gregor/nameserver"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
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
	"ssl.keystore.location":           "none",
	"ssl.keystore.certificate.chain":  "none",
	"ssl.keystore.key":                "none",
	"ssl.key.password":                "none (refused)",
	"ssl.truststore.location":         "none",
	"ssl.truststore.certificates":     "none",
	"sasl.jaas.config":                "none",
	"authorizer.class.name":           "none (no authorizer)",
	"super.users":                     "none",
	"console.client.config":           "none (the first PLAINTEXT listener, anonymous)",
	"inter.broker.listener.name":      "follows the listeners",
	"security.owner.group":            "the broker's own group",
	"sasl.kerberos.service.name":      "none (refused)",
	"cluster.secret":                  "none (the ports are open)",
	"delegation.token.secret.key":     "none (refused)",
	"log.retention.minutes":           "log.retention.ms's default",
	"log.retention.hours":             "log.retention.ms's default",
	"log.dir":                         "log.dirs's default",
	"nameservers":                     "standalone: in-process (gregor broker: a NameServer on this host)",
	"broker.name":                     "follows node.id",
	"broker.rack":                     "none",
	"replication.listener":            "standalone: none (gregor broker: RocketMQ's HA port)",
	"replication.advertised.listener": "follows replication.listener",
}

// effective is what a Config means once the packages have filled it: the
// broker's configuration through EnsureDefaults, the NameServer's, plus the
// command's own settings. Funcs, loggers and the filesystem are left out
// (not settings).
type effective struct {
	Broker              broker.Config
	NameServer          nameserver.Config
	HTTP, Level, Format string
	PProf               bool
}

func effectiveOf(c Config) effective {
	bc := c.brokerConfig()
	bc.EnsureDefaults()
	ns := c.NameServer
	ns.Logger = nil
	return effective{Broker: normalizeBroker(bc), NameServer: ns, HTTP: c.HTTPListener, Level: c.LogLevel, Format: c.LogFormat, PProf: c.PProf}
}

func normalizeBroker(bc broker.Config) broker.Config {
	bc.Logger, bc.Store.Logger, bc.Store.Decompress, bc.Store.FS = nil, nil, nil, nil
	for i := range bc.Listeners {
		bc.Listeners[i].Advertised = ""
	}
	return bc
}

// packageWant is the effective configuration the packages' EnsureDefaults
// give under the command c, with the command's own defaults beside it.
func packageWant(c command) effective {
	bc := broker.Config{Topics: broker.TopicDefaults{AutoCreate: broker.DefaultAutoCreateTopics}}
	bc.Store.Dir = defaultDataDir
	if c == cmdBroker {
		bc.Cluster.NameServers = []string{broker.DefaultNameServer}
		bc.Replication.Listener = broker.DefaultReplicationListener
	}
	bc.EnsureDefaults()
	var ns nameserver.Config
	if c == cmdNameServer {
		ns.Listen = nameServerListen
		ns.EnsureDefaults()
		ns.Logger = nil
	}
	return effective{Broker: normalizeBroker(bc), NameServer: ns, HTTP: defaultHTTPListener, Level: defaultLogLevel, Format: defaultLogFormat}
}

// commands are the commands that read the settings table.
var commands = map[string]command{"standalone": cmdStandalone, "broker": cmdBroker, "nameserver": cmdNameServer}

// TestSettingDefaults holds the settings table to the packages'
// EnsureDefaults, for each command: with nothing set the command
// configures exactly what EnsureDefaults gives, and setting any of its rows
// to the default its usage shows (def) changes nothing. A default changed
// on one side only — a literal in a row or in defaultConfig, or a package
// default the table does not read — fails here.
func TestSettingDefaults(t *testing.T) {
	for name, c := range commands {
		t.Run(name, func(t *testing.T) {
			base, d := defaultsFor(c), defaultsFor(c)
			want := packageWant(c)
			parse := func(values map[string]string) effective {
				t.Helper()
				cfg, err := parseConfigOver(base, &loaded{values: values, src: &sources{}})
				if err != nil {
					t.Fatalf("%v: %v", values, err)
				}
				return effectiveOf(cfg)
			}
			if got := parse(map[string]string{}); !reflect.DeepEqual(got, want) {
				t.Fatalf("nothing set:\n got %+v\nwant %+v", got, want)
			}
			for _, s := range settings {
				if !s.has(c) {
					continue
				}
				if s.def == nil || s.def(&d) == "" {
					if _, ok := noDefault[s.key]; !ok {
						t.Errorf("%s has no default under gregor %s and is not in noDefault", s.key, name)
					}
					continue
				}
				text := s.def(&d)
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
	if f := newStandaloneCommand().Flags().Lookup("nameservers"); strings.Contains(f.Usage, "(default") {
		t.Errorf("--nameservers usage under gregor standalone shows a default: %q", f.Usage)
	}
	f = newStandaloneCommand().Flags().Lookup("log.flush.interval.ms")
	if want := fmt.Sprintf("(default %d)", packageDefaults().Store.FlushInterval.Milliseconds()); !strings.HasSuffix(f.Usage, want) {
		t.Errorf("--log.flush.interval.ms usage %q lacks %s", f.Usage, want)
	}
	var ns nameserver.Config
	ns.EnsureDefaults()
	f = newNameServerCommand().Flags().Lookup("nameserver.broker.expiry.ms")
	if want := fmt.Sprintf("(default %d)", ns.BrokerExpiry.Milliseconds()); !strings.HasSuffix(f.Usage, want) {
		t.Errorf("--nameserver.broker.expiry.ms usage %q lacks %s", f.Usage, want)
	}
}

// notSettings are the flags of these commands that configure no process:
// where a command's one-off flags would go. None today.
var notSettings = map[string]bool{"config": true}

// TestFlagsAreSettingsRows: every flag of standalone, gregor broker and
// gregor nameserver is a row of the settings table that the command reads,
// or an alias of one, and carries no default of its own (the table reads
// it from the packages); every row and alias of the command is a flag. A
// flag defined beside the table (f.DurationVar(&x, "expiry", 15*time.Second,
// …)) fails here, and so does a default typed into a flag.
func TestFlagsAreSettingsRows(t *testing.T) {
	for name, c := range commands {
		t.Run(name, func(t *testing.T) {
			var cmd *cobra.Command
			for _, sub := range newRootCommand().Commands() {
				if sub.Name() == name {
					cmd = sub
				}
			}
			if cmd == nil {
				t.Fatalf("no gregor %s", name)
			}
			seen := map[string]bool{}
			cmd.Flags().VisitAll(func(f *pflag.Flag) {
				seen[f.Name] = true
				if notSettings[f.Name] {
					return
				}
				key := f.Name
				for _, a := range flagAliases {
					if a.name == f.Name {
						if !a.has(c) {
							t.Errorf("--%s: an alias gregor %s does not have", f.Name, name)
						}
						key = a.key
					}
				}
				s, ok := lookupSetting(key)
				if !ok || !s.has(c) {
					t.Errorf("--%s is not a row of the settings table that gregor %s reads", f.Name, name)
				}
				if f.DefValue != "" {
					t.Errorf("--%s has a default of its own (%q); defaults come from the table (def)", f.Name, f.DefValue)
				}
			})
			for _, s := range settings {
				if s.has(c) && !seen[s.key] {
					t.Errorf("gregor %s reads %s but has no --%s", name, s.key, s.key)
				}
			}
			for _, a := range flagAliases {
				if a.has(c) && !seen[a.name] {
					t.Errorf("gregor %s lacks the alias --%s", name, a.name)
				}
			}
		})
	}
}

// TestDefaultsWrittenOnce: the settings rows' defs and the functions that
// build the command's defaults hold no literal value, so a default cannot
// be typed in a second time here: it is read from the packages'
// EnsureDefaults or from the command's own constants (config.go).
func TestDefaultsWrittenOnce(t *testing.T) {
	fset := token.NewFileSet()
	literals := func(n ast.Node) []string {
		var out []string
		ast.Inspect(n, func(n ast.Node) bool {
			// "" and 0 are what a zero field is compared with; "," joins lists.
			if l, ok := n.(*ast.BasicLit); ok && l.Value != `","` && l.Value != `""` && l.Value != "0" {
				out = append(out, fset.Position(l.Pos()).String()+" "+l.Value)
			}
			return true
		})
		return out
	}
	builders := map[string]bool{"packageDefaults": true, "defaultConfig": true, "brokerDefaultConfig": true,
		"nameServerDefaultConfig": true, "defaultsFor": true, "EnsureDefaults": true}
	found := map[string]bool{}
	rows := 0
	for _, file := range []string{"config.go", "settings.go"} {
		f, err := goparser.ParseFile(fset, file, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, decl := range f.Decls {
			switch d := decl.(type) {
			case *ast.FuncDecl:
				if builders[d.Name.Name] {
					found[d.Name.Name] = true
					for _, l := range literals(d.Body) {
						t.Errorf("%s writes a default as a literal: %s", d.Name.Name, l)
					}
				}
			case *ast.GenDecl:
				for _, spec := range d.Specs {
					vs, ok := spec.(*ast.ValueSpec)
					if !ok || len(vs.Names) != 1 || vs.Names[0].Name != "settings" {
						continue
					}
					ast.Inspect(vs.Values[0], func(n ast.Node) bool {
						kv, ok := n.(*ast.KeyValueExpr)
						if !ok {
							return true
						}
						if id, _ := kv.Key.(*ast.Ident); id != nil && id.Name == "def" {
							rows++
							for _, l := range literals(kv.Value) {
								t.Errorf("a settings row's def writes a default as a literal: %s", l)
							}
						}
						return true
					})
				}
			}
		}
	}
	for b := range builders {
		if !found[b] {
			t.Errorf("%s not found in config.go or settings.go", b)
		}
	}
	if rows < 40 {
		t.Fatalf("only %d defs found in the settings table", rows)
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
	l, err := load(cmd.Flags(), nil, cmdBroker)
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

// `gregor nameserver` reads its settings like every command: the flags it
// has always had (durations as before), GREGOR_* / KAFKA_* variables and
// the YAML file, whose broker settings it ignores with a note; bad values
// are refused in plain words. Without any, nameserver.Config's defaults on
// :9876.
func TestNameServerSettings(t *testing.T) {
	clearEnv(t)
	read := func(yaml string, env map[string]string, args ...string) (Config, *loaded, error) {
		t.Helper()
		if yaml != "" {
			path := filepath.Join(t.TempDir(), "ns.yaml")
			if err := os.WriteFile(path, []byte(yaml), 0o644); err != nil {
				t.Fatal(err)
			}
			args = append(args, "--config", path)
		}
		cmd := newNameServerCommand()
		if err := cmd.Flags().Parse(args); err != nil {
			t.Fatal(err)
		}
		var environ []string
		for k, v := range env {
			t.Setenv(k, v)
			environ = append(environ, k+"="+v)
		}
		l, err := load(cmd.Flags(), environ, cmdNameServer)
		if err != nil {
			return Config{}, nil, err
		}
		c, err := parseConfigOver(nameServerDefaultConfig(), l)
		return c, l, err
	}
	var d nameserver.Config
	d.EnsureDefaults()
	c, _, err := read("", nil)
	if err != nil {
		t.Fatal(err)
	}
	if ns := c.NameServer; ns.Listen != ":9876" || ns.ScanInterval != d.ScanInterval || ns.BrokerExpiry != d.BrokerExpiry || ns.LeaseDuration != d.LeaseDuration || c.LogLevel != "info" {
		t.Fatalf("defaults: %+v %s", ns, c.LogLevel)
	}

	c, l, err := read("nameserver.broker.expiry.ms: 9000\nnum.partitions: 3\nlogger.level: debug\n",
		map[string]string{"GREGOR_NAMESERVER_LEASE_DURATION_MS": "2500", "KAFKA_NUM_PARTITIONS": "5"},
		"--listen", "127.0.0.1:0", "--scan-interval", "200ms", "--logger.format", "json")
	if err != nil {
		t.Fatal(err)
	}
	ns := c.NameServer
	if ns.Listen != "127.0.0.1:0" || ns.ScanInterval != 200*time.Millisecond || ns.BrokerExpiry != 9*time.Second ||
		ns.LeaseDuration != 2500*time.Millisecond || c.LogLevel != "debug" || c.LogFormat != "json" {
		t.Fatalf("given: %+v %s %s", ns, c.LogLevel, c.LogFormat)
	}
	if _, ok := l.values["num.partitions"]; ok {
		t.Error("gregor nameserver read num.partitions")
	}
	if len(l.elsewhere) != 1 || !strings.HasPrefix(l.elsewhere[0], "num.partitions (config file") || len(l.ignored) != 0 || len(l.unknown) != 0 {
		t.Errorf("notes: elsewhere %q, ignored %q, unknown %q", l.elsewhere, l.ignored, l.unknown)
	}

	// The container image points GREGOR_CONFIG at its broker settings; the
	// image's NameServers read the same file.
	if c, _, err = read("", map[string]string{"GREGOR_CONFIG": "container.yaml"}, "--listen", ":9876"); err != nil || c.LogFormat != "json" || c.NameServer.Listen != ":9876" {
		t.Errorf("under the image's file: %v %s %+v", err, c.LogFormat, c.NameServer)
	}

	for _, bad := range [][]string{{"--expiry", "soon"}, {"--scan-interval", "-1s"}, {"--listen", "nohost"}} {
		if _, _, err := read("", nil, bad...); err == nil || !strings.Contains(err.Error(), "nameserver.") {
			t.Errorf("%v: %v", bad, err)
		}
	}
}

// The client commands look where a default broker serves: gregor topic and
// group at standalone's Kafka listener, gregor cluster at its HTTP
// listener.
func TestClientDefaultsFollowTheBroker(t *testing.T) {
	clearEnv(t)
	c, err := parseConfig(&loaded{values: map[string]string{}, src: &sources{}})
	if err != nil {
		t.Fatal(err)
	}
	for _, sub := range newRootCommand().Commands() {
		var flag, want string
		switch sub.Name() {
		case "topic", "group":
			flag, want = "bootstrap-server", c.Listeners[0].Address
		case "cluster":
			flag, want = "http", c.HTTPListener
		default:
			continue
		}
		if f := sub.PersistentFlags().Lookup(flag); f == nil || f.DefValue != want {
			t.Errorf("gregor %s --%s: default %v, want %s", sub.Name(), flag, f, want)
		}
	}
}

// Where a broker looks for a NameServer by default is where one listens by
// default: the two packages each hold one of these addresses, so this test
// keeps them from drifting apart (and gregor nameserver on the same port).
func TestNameServerAddressesAgree(t *testing.T) {
	var ns nameserver.Config
	ns.EnsureDefaults()
	if broker.DefaultNameServer != ns.Listen {
		t.Errorf("broker.DefaultNameServer %s, nameserver's default listener %s", broker.DefaultNameServer, ns.Listen)
	}
	_, p1, _ := net.SplitHostPort(ns.Listen)
	_, p2, _ := net.SplitHostPort(nameServerListen)
	if p1 == "" || p1 != p2 {
		t.Errorf("gregor nameserver listens on %s, the package on %s", nameServerListen, ns.Listen)
	}
}
