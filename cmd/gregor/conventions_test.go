package main

import (
	"bytes"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/gregor-broker/gregor/broker"
)

// TestImageConventionsConfig: the environment of a bitnami/kafka compose
// file (KAFKA_CFG_*, KAFKA_KRAFT_CLUSTER_ID, ALLOW_PLAINTEXT_LISTENER, an
// advertised listener without a host) configures gregor; KAFKA_* outranks
// KAFKA_CFG_*; inside the image a mounted Kafka data volume outranks the
// image file's data directory but not a variable or flag.
func TestImageConventionsConfig(t *testing.T) {
	root := t.TempDir()
	old := imageRoot
	imageRoot = root
	t.Cleanup(func() { imageRoot = old })

	bitnami := map[string]string{
		"KAFKA_CFG_NODE_ID":                        "0",
		"KAFKA_CFG_PROCESS_ROLES":                  "controller,broker",
		"KAFKA_CFG_CONTROLLER_QUORUM_VOTERS":       "0@kafka:9093",
		"KAFKA_KRAFT_CLUSTER_ID":                   "abcdefghijklmnopqrstuv",
		"KAFKA_CFG_LISTENERS":                      "PLAINTEXT://:9092,CONTROLLER://:9093,EXTERNAL://:9094",
		"KAFKA_CFG_ADVERTISED_LISTENERS":           "PLAINTEXT://:9092,EXTERNAL://localhost:9094",
		"KAFKA_CFG_LISTENER_SECURITY_PROTOCOL_MAP": "CONTROLLER:PLAINTEXT,EXTERNAL:PLAINTEXT,PLAINTEXT:PLAINTEXT",
		"KAFKA_CFG_CONTROLLER_LISTENER_NAMES":      "CONTROLLER",
		"KAFKA_CFG_LOG_SEGMENT_BYTES":              "16777216",
		"KAFKA_CFG_AUTO_CREATE_TOPICS_ENABLE":      "false",
		"ALLOW_PLAINTEXT_LISTENER":                 "yes",
		"GREGOR_CONFIG":                            "container.yaml",
		"GREGOR_ADVERTISED_HOST_NAME":              "kafka",
	}
	got, l, err := configFrom(t, "", bitnami, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := want(func(c *Config) {
		c.NodeID = 0
		c.ClusterID = "abcdefghijklmnopqrstuv"
		c.Listeners = []broker.Listener{
			{Name: "PLAINTEXT", Address: ":9092", Advertised: "kafka:9092"},
			{Name: "EXTERNAL", Address: ":9094", Advertised: "localhost:9094"},
		}
		c.SkippedListeners = []string{"CONTROLLER"}
		c.SegmentBytes = 16 << 20
		c.AutoCreateTopics = false
		c.DataDir = "/var/lib/gregor" // no volume mounted, not in the image
		c.HTTPListener = ":8080"
		c.LogFormat = "json"
	})
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("config mismatch\n got: %+v\nwant: %+v", got, want)
	}
	notes := strings.Join(append(l.ignored, l.unknown...), "\n")
	for _, w := range []string{"ALLOW_PLAINTEXT_LISTENER", "process.roles (environment variable KAFKA_CFG_PROCESS_ROLES)"} {
		if !strings.Contains(notes, w) {
			t.Errorf("notes do not mention %q:\n%s", w, notes)
		}
	}
	if strings.Contains(notes, "KAFKA_KRAFT_CLUSTER_ID") || strings.Contains(notes, "KAFKA_CFG_NODE_ID") {
		t.Errorf("a variable that is read is noted as ignored or unknown:\n%s", notes)
	}

	t.Run("KAFKA_ outranks KAFKA_CFG_", func(t *testing.T) {
		got, _, err := configFrom(t, "", map[string]string{"KAFKA_CFG_NUM_PARTITIONS": "2", "KAFKA_NUM_PARTITIONS": "5"}, nil)
		if err != nil || got.NumPartitions != 5 {
			t.Fatalf("num.partitions %d, %v; want 5", got.NumPartitions, err)
		}
	})

	t.Run("mounted volumes", func(t *testing.T) {
		for _, tc := range []struct {
			mount, want string
			env         map[string]string
			args        []string
		}{
			{mount: "bitnami", want: "bitnami/kafka/data"},
			{mount: "var/lib/kafka/data", want: "var/lib/kafka/data"},
			{mount: "bitnami", want: "/srv/x", env: map[string]string{"KAFKA_CFG_LOG_DIRS": "/srv/x"}},
			{mount: "var/lib/kafka/data", want: "/srv/y", env: map[string]string{"KAFKA_LOG_DIRS": "/srv/y"}},
			{mount: "bitnami", want: "/srv/z", args: []string{"--data-dir", "/srv/z"}},
			{mount: "", want: "/var/lib/gregor"},
		} {
			os.RemoveAll(filepath.Join(root, "bitnami"))
			os.RemoveAll(filepath.Join(root, "var"))
			if tc.mount != "" {
				if err := os.MkdirAll(filepath.Join(root, tc.mount), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			env := map[string]string{"GREGOR_CONFIG": "container.yaml", containerMarker: "1"}
			for k, v := range tc.env {
				env[k] = v
			}
			got, _, err := configFrom(t, "", env, tc.args)
			if err != nil {
				t.Fatal(err)
			}
			want := tc.want
			if !filepath.IsAbs(want) {
				want = filepath.Join(root, want)
			}
			if got.DataDir != want {
				t.Errorf("volume %q, env %v, args %v: data in %s, want %s", tc.mount, tc.env, tc.args, got.DataDir, want)
			}
		}
		// Outside the image nothing is probed.
		os.MkdirAll(filepath.Join(root, "bitnami"), 0o755)
		got, _, err := configFrom(t, "", map[string]string{"GREGOR_CONFIG": "container.yaml"}, nil)
		if err != nil || got.DataDir != "/var/lib/gregor" {
			t.Fatalf("outside the image: data in %s, %v", got.DataDir, err)
		}
	})
}

// TestKafkaTools: the program names the image links to gregor are tools;
// an unserved flag is refused, not ignored; nc -z probes a port.
func TestKafkaTools(t *testing.T) {
	for _, name := range []string{"/opt/kafka/bin/kafka-topics.sh", "kafka-topics", "/opt/bitnami/kafka/bin/kafka-broker-api-versions.sh", "cub", "/bin/nc", "kafka-cluster.sh"} {
		if _, _, ok := toolFor(name); !ok {
			t.Errorf("%s is not a tool", name)
		}
	}
	for _, name := range []string{"/gregor", "gregor", "kafka-server-start.sh"} {
		if _, _, ok := toolFor(name); ok {
			t.Errorf("%s is a tool", name)
		}
	}
	var out, errb bytes.Buffer
	for _, argv := range [][]string{
		{"kafka-topics.sh", "--bootstrap-server", "127.0.0.1:1", "--list", "--command-config", "x"},
		{"kafka-topics.sh", "--bootstrap-server", "127.0.0.1:1"},
		{"nc", "127.0.0.1", "1"},
		{"nc", "-z", "127.0.0.1", "1"},
		{"cub", "zk-ready", "x", "1"},
	} {
		if status, ok := runTool(argv, &out, &errb); !ok || status == 0 {
			t.Errorf("%v: status %d, want a failure", argv, status)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	host, port, _ := net.SplitHostPort(ln.Addr().String())
	if status, _ := runTool([]string{"nc", "-vz", host, port}, &out, &errb); status != 0 {
		t.Errorf("nc -vz %s %s: status %d\n%s", host, port, status, errb.String())
	}
}
