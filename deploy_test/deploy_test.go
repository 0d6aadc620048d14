// Package deploy_test checks gregor's container: the FROM scratch image,
// docker-compose.yml as a drop-in Kafka service, the host and the compose
// network each reaching the broker through their own advertised listener,
// and data that outlives `docker-compose down` on its volume.
//
// It needs root (it installs Docker through scripts/install-docker.sh and
// kcat through apt-get when absent) and skips otherwise. CI runs as root.
package deploy_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// harness runs commands in the repository root with the compose variables.
type harness struct {
	t    *testing.T
	root string
	env  []string
}

// run runs a command and returns its stdout; a failure ends the test with
// both outputs.
func (h *harness) run(stdin string, name string, args ...string) string {
	h.t.Helper()
	out, err := h.try(stdin, name, args...)
	if err != nil {
		h.t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return out
}

// try runs a command and returns its stdout (and stderr on failure).
func (h *harness) try(stdin string, name string, args ...string) (string, error) {
	// Each command gets its own deadline (not the test's context, which is
	// gone by the time t.Cleanup brings the project down).
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = h.root
	cmd.Env = h.env
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err != nil {
		return stdout.String() + stderr.String(), err
	}
	return stdout.String(), nil
}

func (h *harness) compose(args ...string) string {
	h.t.Helper()
	return h.run("", "docker-compose", args...)
}

var (
	imageOnce sync.Once
	imageErr  string
	// imageTag is this test process's own tag: Docker is shared by every
	// run on the machine, and a run of another checkout building
	// gregor:deploytest under one tag replaced the image a test here was
	// in the middle of (a format-1 binary met the format-2 volume the
	// first half wrote). TestMain removes it.
	imageTag = fmt.Sprintf("gregor:deploytest-%d", os.Getpid())
)

// TestMain removes this process's image once every test ran.
func TestMain(m *testing.M) {
	code := m.Run()
	if imageErr == "" {
		exec.Command("docker", "rmi", "-f", imageTag).Run()
	}
	os.Exit(code)
}

// buildImage installs and starts Docker (scripts/install-docker.sh) and
// builds imageTag once per test binary (scripts/build-image.sh: the static
// binary first, then the FROM scratch image around it). Every test of the
// package runs that image.
func buildImage(h *harness) {
	h.t.Helper()
	imageOnce.Do(func() {
		for _, c := range [][]string{
			{"bash", "scripts/install-docker.sh"},
			{"bash", "scripts/build-image.sh", imageTag},
		} {
			if out, err := h.try("", c[0], c[1:]...); err != nil {
				imageErr = fmt.Sprintf("%s: %v\n%s", strings.Join(c, " "), err, out)
				return
			}
		}
	})
	if imageErr != "" {
		h.t.Fatal(imageErr)
	}
}

// freePort asks the kernel for a TCP port free on every address of the
// host, as Docker binds published ports (a port free on 127.0.0.1 may be
// taken on another loopback address by a test running beside this one).
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", ":0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// waitHealthy waits until Docker reports the gregor container healthy,
// which is the image's own HEALTHCHECK (`gregor healthcheck`) passing.
func (h *harness) waitHealthy() {
	h.t.Helper()
	id := strings.TrimSpace(h.compose("ps", "-q", "gregor"))
	deadline := time.Now().Add(90 * time.Second)
	for {
		st, _ := h.try("", "docker", "inspect", "-f", "{{.State.Status}} {{.State.Health.Status}}", id)
		st = strings.TrimSpace(st)
		if st == "running healthy" {
			return
		}
		if time.Now().After(deadline) || strings.HasPrefix(st, "exited") {
			logs, _ := h.try("", "docker-compose", "logs", "--no-color", "--tail", "50", "gregor")
			h.t.Fatalf("gregor container is %q, not healthy\n%s", st, logs)
		}
		time.Sleep(time.Second)
	}
}

// httpGet returns the body of a 200 answer.
func httpGet(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %v %s\n%s", url, err, resp.Status, body)
	}
	return string(body)
}

func TestDockerCompose(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the container test needs root (it installs and runs Docker)")
	}
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Dir(filepath.Dir(file))
	kafkaPort, httpPort := freePort(t), freePort(t)
	project := fmt.Sprintf("gregordeploy%d", os.Getpid())
	h := &harness{t: t, root: root, env: append(os.Environ(),
		"COMPOSE_PROJECT_NAME="+project,
		"GREGOR_IMAGE="+imageTag,
		fmt.Sprintf("GREGOR_KAFKA_PORT=%d", kafkaPort),
		fmt.Sprintf("GREGOR_HTTP_PORT=%d", httpPort),
		"CGO_ENABLED=0",
	)}

	// Tools: Docker (engine + docker-compose 1.29) and kcat.
	buildImage(h)
	if _, err := exec.LookPath("kcat"); err != nil {
		if _, err := h.try("", "apt-get", "install", "-y", "kcat"); err != nil {
			h.run("", "apt-get", "update", "-qq")
			h.run("", "apt-get", "install", "-y", "kcat")
		}
	}

	t.Cleanup(func() {
		if t.Failed() {
			logs, _ := h.try("", "docker-compose", "logs", "--no-color", "--tail", "100")
			t.Logf("compose logs:\n%s", logs)
		}
		h.try("", "docker-compose", "down", "-v", "--remove-orphans")
		// Earlier builds of the image, untagged by this one.
		h.try("", "docker", "image", "prune", "-f", "--filter", "label=org.opencontainers.image.title=gregor")
	})
	h.compose("up", "-d", "gregor")
	h.waitHealthy()
	broker := fmt.Sprintf("localhost:%d", kafkaPort)

	// The host: kcat is told the host listener's advertised address.
	var md struct {
		Brokers []struct {
			ID   int32  `json:"id"`
			Name string `json:"name"`
		} `json:"brokers"`
	}
	if err := json.Unmarshal([]byte(h.run("", "kcat", "-b", broker, "-L", "-J")), &md); err != nil {
		t.Fatalf("kcat -L -J: %v", err)
	}
	if len(md.Brokers) != 1 || md.Brokers[0].ID != 1 || md.Brokers[0].Name != broker {
		t.Fatalf("metadata brokers %+v, want node 1 at %s", md.Brokers, broker)
	}

	// A second container on the compose network creates the topic through
	// the internal listener (gregor:19092).
	out := h.compose("run", "--rm", "client", "topic", "create", "deploy", "--partitions", "1", "--json")
	if !strings.Contains(out, `"topic": "deploy"`) || !strings.Contains(out, `"partitions": 1`) {
		t.Fatalf("topic create from the client container:\n%s", out)
	}

	// The host produces keyed records and reads them back in order.
	h.run("k1:v1\nk2:v2\nk3:v3\n", "kcat", "-b", broker, "-P", "-t", "deploy", "-K:")
	consume := func() string {
		return h.run("", "kcat", "-b", broker, "-C", "-t", "deploy", "-o", "beginning", "-e", "-q", "-f", "%k=%s@%o\n")
	}
	want := "k1=v1@0\nk2=v2@1\nk3=v3@2\n"
	if got := consume(); got != want {
		t.Fatalf("consumed %q, want %q", got, want)
	}

	// The client container sees the topic and its three records.
	var topics []struct {
		Topic      string `json:"topic"`
		Partitions int    `json:"partitions"`
	}
	out = h.compose("run", "--rm", "client", "topic", "list", "--json")
	if err := json.Unmarshal([]byte(out), &topics); err != nil || len(topics) != 1 || topics[0].Topic != "deploy" || topics[0].Partitions != 1 {
		t.Fatalf("topic list from the client container: %v\n%s", err, out)
	}
	var described []struct {
		Partitions []struct {
			EndOffset int64 `json:"end_offset"`
		} `json:"partitions"`
	}
	out = h.compose("run", "--rm", "client", "topic", "describe", "deploy", "--json")
	if err := json.Unmarshal([]byte(out), &described); err != nil || len(described) != 1 || len(described[0].Partitions) != 1 || described[0].Partitions[0].EndOffset != 3 {
		t.Fatalf("topic describe from the client container: %v\n%s", err, out)
	}

	// /metrics and /readyz on the published HTTP port.
	if out := httpGet(t, fmt.Sprintf("http://localhost:%d/readyz", httpPort)); out != "ready\n" {
		t.Fatalf("/readyz: %q", out)
	}
	if out := httpGet(t, fmt.Sprintf("http://localhost:%d/metrics", httpPort)); !strings.Contains(out, "\ngo_goroutines ") {
		t.Fatalf("/metrics lacks go_goroutines:\n%s", out)
	}

	// down (the volume stays) and up: the records are still there.
	h.compose("down")
	h.compose("up", "-d", "gregor")
	h.waitHealthy()
	if got := consume(); got != want {
		t.Fatalf("after down/up consumed %q, want %q", got, want)
	}
}
