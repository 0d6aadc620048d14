package main

import (
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gregor-broker/gregor/broker"
	"github.com/gregor-broker/gregor/storage"
	"github.com/spf13/viper"
)

// clearEnv removes every GREGOR_*, KAFKA_* and CLUSTER_ID variable for the
// test, so the machine's environment cannot leak into a case.
func clearEnv(t *testing.T) {
	t.Helper()
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "GREGOR_") || strings.HasPrefix(k, "KAFKA_") || k == "CLUSTER_ID" {
			t.Setenv(k, "")
			os.Unsetenv(k)
		}
	}
}

// configFrom runs the real flag, environment and file reading.
func configFrom(t *testing.T, yaml string, env map[string]string, args []string) (Config, *loaded, error) {
	t.Helper()
	clearEnv(t)
	if yaml != "" {
		path := filepath.Join(t.TempDir(), "gregor.yaml")
		if err := os.WriteFile(path, []byte(yaml), 0o644); err != nil {
			t.Fatal(err)
		}
		args = append([]string{"--config", path}, args...)
	}
	for k, v := range env {
		t.Setenv(k, v)
	}
	cmd := newStandaloneCommand()
	if err := cmd.Flags().Parse(args); err != nil {
		t.Fatalf("flags %v: %v", args, err)
	}
	l, err := load(cmd.Flags(), os.Environ(), cmdStandalone)
	if err != nil {
		return Config{}, nil, err
	}
	c, err := parseConfig(l)
	return c, l, err
}

// want is the default configuration with the default listener, changed by fn.
func want(fn func(c *Config)) Config {
	c := defaultConfig()
	c.Listeners = []broker.Listener{{Name: "PLAINTEXT", Address: "localhost:9092", Advertised: "localhost:9092"}}
	if fn != nil {
		fn(&c)
	}
	return c
}

func TestConfigSources(t *testing.T) {
	host, _ := os.Hostname()
	cases := []struct {
		name string
		yaml string
		env  map[string]string
		args []string
		want Config
	}{
		{name: "defaults", want: want(nil)},
		{
			name: "yaml flat Kafka names",
			yaml: "num.partitions: 3\nauto.create.topics.enable: false\nlog.retention.hours: 2\nlog.dirs: /srv/gregor\nlog.flush.mode: sync\nhttp.listener: ':9999'\nlog.message.timestamp.type: LogAppendTime\n",
			want: want(func(c *Config) {
				c.MessageTimestampType = "LogAppendTime"
				c.NumPartitions = 3
				c.AutoCreateTopics = false
				c.RetentionMs = 2 * 3600 * 1000
				c.DataDir = "/srv/gregor"
				c.FlushMode = storage.FlushSync
				c.HTTPListener = ":9999"
			}),
		},
		{
			name: "yaml nested keys and a listener list",
			yaml: "log:\n  retention:\n    ms: 1234\n  segment:\n    bytes: 67108864\nlisteners:\n  - PLAINTEXT://:9092\n  - INTERNAL://:19092\nadvertised.listeners: PLAINTEXT://localhost:9092,INTERNAL://gregor:19092\nlistener.security.protocol.map: PLAINTEXT:PLAINTEXT,INTERNAL:PLAINTEXT\n",
			want: want(func(c *Config) {
				c.RetentionMs = 1234
				c.SegmentBytes = 64 << 20
				c.Listeners = []broker.Listener{
					{Name: "PLAINTEXT", Address: ":9092", Advertised: "localhost:9092"},
					{Name: "INTERNAL", Address: ":19092", Advertised: "gregor:19092"},
				}
			}),
		},
		{
			name: "GREGOR_ env over yaml",
			yaml: "num.partitions: 3\nmessage.max.bytes: 2000\n",
			env:  map[string]string{"GREGOR_NUM_PARTITIONS": "5"},
			want: want(func(c *Config) { c.NumPartitions = 5; c.MessageMaxBytes = 2000 }),
		},
		{
			name: "flag over GREGOR_ over KAFKA_ over yaml",
			yaml: "num.partitions: 3\ndefault.replication.factor: 1\nlog.retention.bytes: 10\n",
			env:  map[string]string{"GREGOR_NUM_PARTITIONS": "5", "KAFKA_NUM_PARTITIONS": "7", "KAFKA_LOG_RETENTION_BYTES": "20"},
			args: []string{"--num.partitions", "9"},
			want: want(func(c *Config) { c.NumPartitions = 9; c.RetentionBytes = 20 }),
		},
		{
			name: "GREGOR_ beats KAFKA_",
			env:  map[string]string{"GREGOR_NUM_PARTITIONS": "5", "KAFKA_NUM_PARTITIONS": "7"},
			want: want(func(c *Config) { c.NumPartitions = 5 }),
		},
		{
			name: "apache/kafka compose file",
			env: map[string]string{
				"KAFKA_NODE_ID":                          "4",
				"KAFKA_PROCESS_ROLES":                    "broker,controller",
				"KAFKA_LISTENERS":                        "PLAINTEXT://:19092,CONTROLLER://:9093,PLAINTEXT_HOST://:9092",
				"KAFKA_ADVERTISED_LISTENERS":             "PLAINTEXT://broker:19092,PLAINTEXT_HOST://localhost:9092",
				"KAFKA_LISTENER_SECURITY_PROTOCOL_MAP":   "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,PLAINTEXT_HOST:PLAINTEXT",
				"KAFKA_CONTROLLER_LISTENER_NAMES":        "CONTROLLER",
				"KAFKA_CONTROLLER_QUORUM_VOTERS":         "1@broker:9093",
				"KAFKA_INTER_BROKER_LISTENER_NAME":       "PLAINTEXT",
				"KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR": "1",
				"KAFKA_AUTO_CREATE_TOPICS_ENABLE":        "false",
				"KAFKA_NUM_PARTITIONS":                   "6",
				"KAFKA_LOG_RETENTION_HOURS":              "48",
				"KAFKA_LOG_DIRS":                         "/var/lib/kafka/data",
				"KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS": "0",
				"CLUSTER_ID":                             "MkU3OEVBNTcwNTJENDM2Qk",
				"KAFKA_HEAP_OPTS":                        "-Xmx1G",
			},
			want: want(func(c *Config) {
				c.NodeID = 4
				c.ClusterID = "MkU3OEVBNTcwNTJENDM2Qk"
				c.Listeners = []broker.Listener{
					{Name: "PLAINTEXT", Address: ":19092", Advertised: "broker:19092"},
					{Name: "PLAINTEXT_HOST", Address: ":9092", Advertised: "localhost:9092"},
				}
				c.SkippedListeners = []string{"CONTROLLER"}
				c.Security.InterBroker.Listener = "PLAINTEXT"
				c.AutoCreateTopics = false
				c.NumPartitions = 6
				c.RetentionMs = 48 * 3600 * 1000
				c.DataDir = "/var/lib/kafka/data"
				c.Group.InitialRebalanceDelay = 0
			}),
		},
		{
			name: "KAFKA_ name mangling: ___ is _, __ is -",
			env:  map[string]string{"KAFKA_LISTENER_SECURITY_PROTOCOL_MAP": "IN__SIDE:PLAINTEXT", "KAFKA_LISTENERS": "IN__SIDE://127.0.0.1:0"},
			want: want(func(c *Config) {
				c.Listeners = []broker.Listener{{Name: "IN__SIDE", Address: "127.0.0.1:0", Advertised: "127.0.0.1:0"}}
			}),
		},
		{
			name: "retention: ms beats minutes beats hours",
			env:  map[string]string{"KAFKA_LOG_RETENTION_HOURS": "1", "KAFKA_LOG_RETENTION_MINUTES": "2"},
			want: want(func(c *Config) { c.RetentionMs = 2 * 60 * 1000 }),
		},
		{
			name: "retention -1 is forever",
			env:  map[string]string{"KAFKA_LOG_RETENTION_MS": "-1", "KAFKA_LOG_RETENTION_HOURS": "1"},
			want: want(func(c *Config) { c.RetentionMs = -1 }),
		},
		{
			name: "advertised host defaults to the host name for the any-address",
			args: []string{"--listeners", "PLAINTEXT://0.0.0.0:9092"},
			want: want(func(c *Config) {
				c.Listeners = []broker.Listener{{Name: "PLAINTEXT", Address: "0.0.0.0:9092", Advertised: host + ":9092"}}
			}),
		},
		{
			name: "advertised.host.name for any-address listeners advertised.listeners leaves out",
			env:  map[string]string{"KAFKA_LISTENERS": "PLAINTEXT://:9092,INTERNAL://:19092,LOCAL://127.0.0.1:29092", "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP": "PLAINTEXT:PLAINTEXT,INTERNAL:PLAINTEXT,LOCAL:PLAINTEXT", "KAFKA_ADVERTISED_LISTENERS": "INTERNAL://gregor:19092", "GREGOR_ADVERTISED_HOST_NAME": "example.org"},
			want: want(func(c *Config) {
				c.Listeners = []broker.Listener{
					{Name: "PLAINTEXT", Address: ":9092", Advertised: "example.org:9092"},
					{Name: "INTERNAL", Address: ":19092", Advertised: "gregor:19092"},
					{Name: "LOCAL", Address: "127.0.0.1:29092", Advertised: "127.0.0.1:29092"},
				}
			}),
		},
		{
			name: "aliases and bools without a value",
			args: []string{"--data-dir", "/d", "--pprof", "--auto.create.topics.enable=false", "--log.flush.interval.ms", "50"},
			want: want(func(c *Config) {
				c.DataDir = "/d"
				c.PProf = true
				c.AutoCreateTopics = false
				c.FlushInterval = 50 * time.Millisecond
			}),
		},
		{
			name: "flag beats its alias's environment",
			env:  map[string]string{"KAFKA_LOG_DIRS": "/env"},
			args: []string{"--data-dir", "/flag"},
			want: want(func(c *Config) { c.DataDir = "/flag" }),
		},
		{
			name: "broker.id is node.id's old name",
			env:  map[string]string{"KAFKA_BROKER_ID": "2"},
			want: want(func(c *Config) { c.NodeID = 2 }),
		},
		{
			name: "store, fetch session, group and producer settings",
			yaml: "log.retention.check.interval.ms: 5000\nlog.flush.offset.checkpoint.interval.ms: 2000\nlog.max.disk.bytes: 1000000000\nmax.incremental.fetch.session.cache.slots: 10\ngroup.min.session.timeout.ms: 1000\ngroup.max.session.timeout.ms: 60000\noffsets.retention.minutes: 60\ngroup.max.size: 25\nproducer.id.expiration.ms: 1000\nsocket.request.max.bytes: 2000000\nlogger.level: debug\nlogger.format: json\n",
			want: want(func(c *Config) {
				c.RetentionCheckInterval = 5 * time.Second
				c.CheckpointInterval = 2 * time.Second
				c.MaxDiskBytes = 1000000000
				c.FetchSessionCacheSlots = 10
				c.Group.MinSessionTimeout = time.Second
				c.Group.MaxSessionTimeout = time.Minute
				c.Group.OffsetsRetention = time.Hour
				c.Group.MaxSize = 25
				c.ProducerIDExpir = time.Second
				c.SocketRequestMaxBytes = 2000000
				c.LogLevel = "debug"
				c.LogFormat = "json"
			}),
		},
		{
			name: "GREGOR_CONFIG names the file (the image's settings)",
			env:  map[string]string{"GREGOR_CONFIG": "container.yaml"},
			want: want(func(c *Config) {
				c.Listeners = []broker.Listener{{Name: "PLAINTEXT", Address: ":9092", Advertised: "localhost:9092"}}
				c.DataDir = "/var/lib/gregor"
				c.HTTPListener = ":8080"
				c.LogFormat = "json"
			}),
		},
		{
			name: "the image's settings under an apache/kafka listener list",
			env: map[string]string{"GREGOR_CONFIG": "container.yaml", "KAFKA_LISTENERS": "BROKER://:9092,CONTROLLER://:9093",
				"KAFKA_LISTENER_SECURITY_PROTOCOL_MAP": "BROKER:PLAINTEXT,CONTROLLER:PLAINTEXT", "KAFKA_CONTROLLER_LISTENER_NAMES": "CONTROLLER"},
			want: want(func(c *Config) {
				c.Listeners = []broker.Listener{{Name: "BROKER", Address: ":9092", Advertised: "localhost:9092"}}
				c.SkippedListeners = []string{"CONTROLLER"}
				c.DataDir = "/var/lib/gregor"
				c.HTTPListener = ":8080"
				c.LogFormat = "json"
			}),
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, _, err := configFrom(t, tc.yaml, tc.env, tc.args)
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("config mismatch\n got: %+v\nwant: %+v", got, tc.want)
			}
		})
	}
}

func TestConfigErrors(t *testing.T) {
	cases := []struct {
		name string
		yaml string
		env  map[string]string
		args []string
		want []string // every substring must be in the error
	}{
		{name: "not a number", env: map[string]string{"KAFKA_NUM_PARTITIONS": "many"},
			want: []string{`num.partitions (from environment variable KAFKA_NUM_PARTITIONS): "many" is not a whole number`}},
		{name: "out of range", args: []string{"--num.partitions", "0"},
			want: []string{"num.partitions (from flag --num.partitions): 0 is out of range: it must be between 1 and 2147483647"}},
		{name: "bad bool", yaml: "auto.create.topics.enable: maybe\n",
			want: []string{`auto.create.topics.enable (from config file `, `"maybe" is neither true nor false`}},
		{name: "every mistake at once", env: map[string]string{"GREGOR_NUM_PARTITIONS": "x", "GREGOR_LOG_FLUSH_MODE": "sometimes"},
			want: []string{"num.partitions", `log.flush.mode (from environment variable GREGOR_LOG_FLUSH_MODE): "sometimes" is neither async nor sync`}},
		{name: "SSL listener without a key store", env: map[string]string{"KAFKA_LISTENERS": "SSL://:9093"},
			want: []string{"an SSL listener needs ssl.keystore.location"}},
		{name: "JKS key store refused", env: map[string]string{"KAFKA_LISTENERS": "EXT://:9093", "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP": "EXT:SASL_SSL", "KAFKA_SSL_KEYSTORE_TYPE": "JKS"},
			want: []string{"ssl store type JKS is not supported"}},
		{name: "GSSAPI refused", env: map[string]string{"KAFKA_LISTENERS": "EXT://:9093", "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP": "EXT:SASL_PLAINTEXT", "KAFKA_SASL_ENABLED_MECHANISMS": "GSSAPI"},
			want: []string{"GSSAPI (Kerberos) is out of gregor's scope"}},
		{name: "listener missing from the map", env: map[string]string{"KAFKA_LISTENERS": "EXT://:9093", "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP": "PLAINTEXT:PLAINTEXT"},
			want: []string{"has no entry for listener EXT; add EXT:PLAINTEXT"}},
		{name: "advertised names an unknown listener", env: map[string]string{"KAFKA_ADVERTISED_LISTENERS": "OTHER://h:1"},
			want: []string{"advertised.listeners (from environment variable KAFKA_ADVERTISED_LISTENERS): names listener OTHER, which is not in listeners"}},
		{name: "advertised any-address", args: []string{"--advertised.listeners", "PLAINTEXT://0.0.0.0:9092"},
			want: []string{"give a host name clients can reach"}},
		{name: "malformed listener", env: map[string]string{"KAFKA_LISTENERS": "localhost:9092"},
			want: []string{`"localhost:9092" is not NAME://host:port`}},
		{name: "same port twice", env: map[string]string{"KAFKA_LISTENERS": "A://:1,B://:1", "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP": "A:PLAINTEXT,B:PLAINTEXT"},
			want: []string{"listeners A and B both use port 1"}},
		{name: "only controller listeners", env: map[string]string{"KAFKA_LISTENERS": "CONTROLLER://:9093", "KAFKA_CONTROLLER_LISTENER_NAMES": "CONTROLLER"},
			want: []string{"names only controller listeners (CONTROLLER)"}},
		{name: "zero retention", env: map[string]string{"KAFKA_LOG_RETENTION_HOURS": "0"},
			want: []string{"log.retention.hours (from environment variable KAFKA_LOG_RETENTION_HOURS): 0 would delete records as soon as they are written; use -1 to keep them forever"}},
		{name: "zero retention bytes", env: map[string]string{"KAFKA_LOG_RETENTION_BYTES": "0"},
			want: []string{"log.retention.bytes (from environment variable KAFKA_LOG_RETENTION_BYTES): 0 would keep no records; use -1 for no limit"}},
		{name: "bad timestamp type", args: []string{"--log.message.timestamp.type", "Now"},
			want: []string{`log.message.timestamp.type (from flag --log.message.timestamp.type): "Now" is neither CreateTime nor LogAppendTime`}},
		{name: "two log dirs", env: map[string]string{"KAFKA_LOG_DIRS": "/a,/b"},
			want: []string{"names 2 directories; gregor keeps one commit log per broker"}},
		{name: "message larger than a request", args: []string{"--message.max.bytes", "2000", "--socket.request.max.bytes", "1000"},
			want: []string{"message.max.bytes (2000) is larger than socket.request.max.bytes (1000)"}},
		{name: "session timeouts crossed", env: map[string]string{"GREGOR_GROUP_MIN_SESSION_TIMEOUT_MS": "10000", "GREGOR_GROUP_MAX_SESSION_TIMEOUT_MS": "5000"},
			want: []string{"group.min.session.timeout.ms (10000) is larger than group.max.session.timeout.ms (5000)"}},
		{name: "bad http listener", args: []string{"--http.listener", "8080"},
			want: []string{`http.listener: "8080" is not host:port`}},
		{name: "bad log level", env: map[string]string{"GREGOR_LOGGER_LEVEL": "loud"},
			want: []string{`logger.level: "loud" is none of debug, info, warn, error`}},
		{name: "unknown key in the yaml file", yaml: "num.partition: 3\nlog.retenton.ms: 5\n",
			want: []string{"unknown setting(s) log.retenton.ms, num.partition"}},
		{name: "missing config file", args: []string{"--config", "/nonexistent/gregor.yaml"},
			want: []string{"config file /nonexistent/gregor.yaml does not exist"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := configFrom(t, tc.yaml, tc.env, tc.args)
			if err == nil {
				t.Fatal("expected an error, got none")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\ndoes not say %q", err, w)
				}
			}
		})
	}
}

// TestIgnoredAndUnknownKafkaSettings: a drop-in accepts what apache/kafka
// compose files set and lists it for the log, instead of refusing to start.
func TestIgnoredAndUnknownKafkaSettings(t *testing.T) {
	_, l, err := configFrom(t, "process.roles: broker\n", map[string]string{
		"KAFKA_CONTROLLER_QUORUM_VOTERS":         "1@localhost:9093",
		"KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR": "1",
		"KAFKA_SOMETHING_NEW":                    "x",
		"GREGOR_CACHE":                           "/tmp/cache",
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	wantIgnored := []string{
		"process.roles (config file ",
		"controller.quorum.voters (environment variable KAFKA_CONTROLLER_QUORUM_VOTERS)",
		"offsets.topic.replication.factor (environment variable KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR)",
	}
	if len(l.ignored) != len(wantIgnored) {
		t.Fatalf("ignored = %q, want %d entries", l.ignored, len(wantIgnored))
	}
	for i, w := range wantIgnored {
		if !strings.HasPrefix(l.ignored[i], w) {
			t.Errorf("ignored[%d] = %q, want prefix %q", i, l.ignored[i], w)
		}
	}
	if want := []string{"GREGOR_CACHE (cache)", "KAFKA_SOMETHING_NEW (something.new)"}; !reflect.DeepEqual(l.unknown, want) {
		t.Errorf("unknown = %q, want %q", l.unknown, want)
	}
}

func TestEnvNames(t *testing.T) {
	cases := []struct{ env, prop string }{
		{"ADVERTISED_LISTENERS", "advertised.listeners"},
		{"LOG_RETENTION_HOURS", "log.retention.hours"},
		{"LISTENER_NAME_INTERNAL__X___Y", "listener.name.internal-x_y"},
	}
	for _, c := range cases {
		if got := propertyName(c.env); got != c.prop {
			t.Errorf("propertyName(%q) = %q, want %q", c.env, got, c.prop)
		}
		if got := envName("KAFKA_", c.prop); got != "KAFKA_"+c.env {
			t.Errorf("envName(%q) = %q, want %q", c.prop, got, "KAFKA_"+c.env)
		}
	}
}

// TestReadmeListsEverySetting keeps README.md's settings table true: every
// setting appears with its environment variable, and nothing else does.
func TestReadmeListsEverySetting(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]bool{}
	for _, line := range strings.Split(string(readme), "\n") {
		if strings.HasPrefix(line, "| `") && strings.Contains(line, "`KAFKA_") {
			key := strings.Trim(strings.Fields(line)[1], "`")
			rows[key] = true
			if s, ok := lookupSetting(key); !ok {
				t.Errorf("README lists %q, which is no setting", key)
			} else if env := envName("KAFKA_", s.key); !strings.Contains(line, "`"+env+"`") {
				t.Errorf("README row of %s lacks %s", key, env)
			}
		}
	}
	for _, s := range settings {
		if !rows[s.key] {
			t.Errorf("README does not list %s", s.key)
		}
	}
}

// TestComposeEnvironment feeds the environment docker-compose.yml gives the
// gregor service, over the image's settings, through the real loader: the
// compose file stays a valid configuration even where Docker cannot run.
func TestComposeEnvironment(t *testing.T) {
	raw, err := os.ReadFile("../../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	// ${VAR:-default} → default, as docker-compose does with VAR unset.
	subst := regexp.MustCompile(`\$\{[A-Z_]+:-([^}]*)\}`)
	path := filepath.Join(t.TempDir(), "compose.yml")
	if err := os.WriteFile(path, subst.ReplaceAll(raw, []byte("$1")), 0o644); err != nil {
		t.Fatal(err)
	}
	v := viper.NewWithOptions(viper.KeyDelimiter("::"))
	v.SetConfigFile(path)
	if err := v.ReadInConfig(); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"GREGOR_CONFIG": "container.yaml"}
	for k, val := range v.GetStringMap("services::gregor::environment") {
		env[strings.ToUpper(k)] = text(val)
	}
	if len(env) < 10 {
		t.Fatalf("compose environment not found: %v", env)
	}
	got, l, err := configFrom(t, "", env, nil)
	if err != nil {
		t.Fatal(err)
	}
	wantListeners := []broker.Listener{
		{Name: "PLAINTEXT", Address: ":19092", Advertised: "gregor:19092"},
		{Name: "PLAINTEXT_HOST", Address: ":9092", Advertised: "localhost:9092"},
	}
	if !reflect.DeepEqual(got.Listeners, wantListeners) || got.NodeID != 1 || got.DataDir != "/var/lib/gregor" ||
		got.NumPartitions != 3 || got.HTTPListener != ":8080" || got.ClusterID == "" {
		t.Fatalf("compose config: %+v", got)
	}
	if len(l.unknown) != 0 {
		t.Errorf("compose sets variables gregor does not know: %q", l.unknown)
	}
}
