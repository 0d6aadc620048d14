package deploy_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// ensureKcat installs kcat through apt-get when it is absent.
func ensureKcat(h *harness) {
	h.t.Helper()
	if _, err := exec.LookPath("kcat"); err == nil {
		return
	}
	if _, err := h.try("", "apt-get", "install", "-y", "kcat"); err != nil {
		h.run("", "apt-get", "update", "-qq")
		h.run("", "apt-get", "install", "-y", "kcat")
	}
}

// TestImageConventions runs compose files written for other Kafka images
// (testdata/cp-kafka.yml for confluentinc/cp-kafka, testdata/bitnami-kafka.yml
// for bitnami/kafka) with only the image changed to gregor's: the
// environment configures it (listeners, node id, cluster id, segment size
// from KAFKA_* or KAFKA_CFG_*), the healthcheck the file carries turns the
// container healthy, records go through from the host, the data lands in
// the volume the file mounts (not in gregor's own /var/lib/gregor) and
// outlives `down`, and the healthcheck lines such files carry (Kafka's
// tools, Confluent's cub, nc -z, bash's /dev/tcp) pass inside the
// container, and fail against a closed port.
func TestImageConventions(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the container test needs root (it installs and runs Docker)")
	}
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Dir(filepath.Dir(file))
	for _, tc := range []struct {
		file, service, portVar, volume string
		// dataDir is where the data lands inside the volume; internal is
		// the broker's address on the compose network; clusterID is the
		// one the file sets.
		dataDir, internal, clusterID string
		// healthcheck is a word of the file's own healthcheck.
		healthcheck string
	}{
		{file: "cp-kafka.yml", service: "broker", portVar: "BROKER_HOST_PORT", volume: "kafka-data",
			dataDir: ".", internal: "broker:29092", clusterID: "MkU3OEVBNTcwNTJENDM2Qk", healthcheck: "kafka-topics"},
		{file: "bitnami-kafka.yml", service: "kafka", portVar: "KAFKA_EXTERNAL_PORT", volume: "kafka_data",
			dataDir: "kafka/data", internal: "kafka:9092", clusterID: "abcdefghijklmnopqrstuv", healthcheck: "kafka-topics.sh"},
	} {
		tc := tc
		t.Run(tc.file, func(t *testing.T) {
			t.Parallel() // separate compose projects, ports and volumes
			port := freePort(t)
			project := fmt.Sprintf("gregorconv%d%s", os.Getpid(), strings.Split(tc.file, "-")[0])
			h := &harness{t: t, root: root, env: append(os.Environ(),
				"COMPOSE_PROJECT_NAME="+project,
				"KAFKA_IMAGE="+imageTag,
				fmt.Sprintf("%s=%d", tc.portVar, port),
				"CGO_ENABLED=0",
			)}
			buildImage(h)
			ensureKcat(h)
			compose := func(args ...string) string {
				t.Helper()
				return h.compose(append([]string{"-f", filepath.Join("deploy_test", "testdata", tc.file)}, args...)...)
			}
			t.Cleanup(func() {
				f := filepath.Join("deploy_test", "testdata", tc.file)
				if t.Failed() {
					logs, _ := h.try("", "docker-compose", "-f", f, "logs", "--no-color", "--tail", "60")
					t.Logf("compose logs:\n%s", logs)
				}
				h.try("", "docker-compose", "-f", f, "down", "-v", "--remove-orphans")
			})
			waitHealthy := func() string {
				t.Helper()
				id := strings.TrimSpace(compose("ps", "-q", tc.service))
				deadline := time.Now().Add(90 * time.Second)
				for {
					st, _ := h.try("", "docker", "inspect", "-f", "{{.State.Status}} {{.State.Health.Status}}", id)
					if st = strings.TrimSpace(st); st == "running healthy" {
						return id
					}
					if time.Now().After(deadline) || strings.HasPrefix(st, "exited") {
						hc, _ := h.try("", "docker", "inspect", "-f", "{{json .State.Health}}", id)
						t.Fatalf("%s is %q, not healthy\n%s", tc.service, st, hc)
					}
					time.Sleep(time.Second)
				}
			}
			exec := func(line string) (string, error) {
				return h.try("", "docker-compose", "-f", filepath.Join("deploy_test", "testdata", tc.file),
					"exec", "-T", tc.service, "sh", "-c", line)
			}

			compose("up", "-d", tc.service)
			id := waitHealthy()
			// Healthy by the file's own healthcheck, not the image's.
			if test := h.run("", "docker", "inspect", "-f", "{{json .Config.Healthcheck.Test}}", id); !strings.Contains(test, tc.healthcheck) {
				t.Fatalf("healthcheck in force is %s, want the file's (%s)", test, tc.healthcheck)
			}

			// The topic, created with the Kafka tool inside the container on
			// the internal listener; records from the host.
			if out, err := exec("kafka-topics.sh --bootstrap-server " + tc.internal + " --create --topic conv --partitions 1 --replication-factor 1"); err != nil || !strings.Contains(out, "Created topic conv.") {
				t.Fatalf("kafka-topics.sh --create: %v\n%s", err, out)
			}
			broker := fmt.Sprintf("localhost:%d", port)
			h.run("k1:v1\nk2:v2\nk3:v3\n", "kcat", "-b", broker, "-P", "-t", "conv", "-K:", "-H", "h=x")
			consume := func() string {
				return h.run("", "kcat", "-b", broker, "-C", "-t", "conv", "-o", "beginning", "-e", "-q", "-f", "%k=%s %h@%o\n")
			}
			want := "k1=v1 h=x@0\nk2=v2 h=x@1\nk3=v3 h=x@2\n"
			if got := consume(); got != want {
				t.Fatalf("consumed %q, want %q", got, want)
			}

			// The data is in the file's volume, with the file's segment
			// size; gregor's own volume is empty.
			mp := strings.TrimSpace(h.run("", "docker", "volume", "inspect", "-f", "{{.Mountpoint}}", project+"_"+tc.volume))
			data := filepath.Join(mp, tc.dataDir)
			if _, err := os.Stat(filepath.Join(data, "FORMAT")); err != nil {
				ls, _ := h.try("", "find", mp, "-maxdepth", "3")
				t.Fatalf("no gregor data in the volume %s at %s: %v\n%s", tc.volume, tc.dataDir, err, ls)
			}
			segs, _ := filepath.Glob(filepath.Join(data, "commitlog", "*"))
			if len(segs) == 0 {
				t.Fatalf("no commit-log segment under %s", data)
			}
			for _, s := range segs {
				if fi, err := os.Stat(s); err != nil || fi.Size() > 16<<20 {
					t.Fatalf("segment %s: %v, size %d; the file sets 16 MiB segments", s, err, fi.Size())
				}
			}
			if out, err := exec("ls -A /var/lib/gregor"); err != nil || strings.TrimSpace(out) != "" {
				t.Fatalf("gregor's own volume /var/lib/gregor holds %q (%v); the data belongs in the file's volume", out, err)
			}

			// The healthcheck lines compose files for these images carry.
			for _, line := range []string{
				"kafka-topics.sh --bootstrap-server " + tc.internal + " --list | grep -qx conv",
				"kafka-topics --bootstrap-server " + tc.internal + " --describe --topic conv | grep -q 'PartitionCount: 1'",
				"/opt/kafka/bin/kafka-topics.sh --bootstrap-server " + tc.internal + " --list",
				"/opt/bitnami/kafka/bin/kafka-topics.sh --bootstrap-server " + tc.internal + " --list",
				"/opt/kafka/bin/kafka-broker-api-versions.sh --bootstrap-server " + tc.internal + " | grep -q 'ApiVersions(18)'",
				"kafka-broker-api-versions --bootstrap-server " + tc.internal + " > /dev/null 2>&1",
				"kafka-cluster.sh cluster-id --bootstrap-server " + tc.internal + " | grep -q 'Cluster ID: " + tc.clusterID + "'",
				"cub kafka-ready -b " + tc.internal + " 1 20",
				"nc -z localhost 9092",
				"nc -vz " + strings.Replace(tc.internal, ":", " ", 1),
				"bash -c 'echo > /dev/tcp/localhost/9092'",
				"echo > /dev/tcp/localhost/9092",
			} {
				if out, err := exec(line); err != nil {
					t.Errorf("healthcheck line %q: %v\n%s", line, err, out)
				}
			}
			for _, line := range []string{
				"kafka-topics.sh --bootstrap-server localhost:1 --list",
				"kafka-topics.sh --bootstrap-server " + tc.internal + " --describe --topic missing",
				"nc -z localhost 1",
				"bash -c 'echo > /dev/tcp/localhost/1'",
				"cub kafka-ready -b localhost:1 1 1",
				"kafka-topics.sh --bootstrap-server " + tc.internal + " --list --no-such-flag",
			} {
				if out, err := exec(line); err == nil {
					t.Errorf("healthcheck line %q passed; it must fail\n%s", line, out)
				}
			}

			// down keeps the volume; up again reads the same records.
			compose("down")
			compose("up", "-d", tc.service)
			waitHealthy()
			if got := consume(); got != want {
				t.Fatalf("after down/up consumed %q, want %q", got, want)
			}
		})
	}
}
