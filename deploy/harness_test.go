// Package deploy_test checks what deploy/ ships against real gregor
// processes: that the Grafana dashboard (grafana/gregor.json) and the
// Prometheus alert rules (prometheus/alerts.yml) name only series a running
// broker exports, and that the backup and restore procedure of
// docs/operations.md gives back the data.
//
// The gregor binary is built once in TestMain; every process listens on
// 127.0.0.1 and dies with the test (Pdeathsig).
package deploy_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

var gregorBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "gregor-deploy-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	gregorBin = filepath.Join(dir, "gregor")
	// deploy/ is a module of its own (go.mod says why); the binary is
	// built in the repository's.
	build := exec.Command("go", "build", "-o", gregorBin, "./cmd/gregor")
	build.Dir = ".."
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building gregor:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// proc is one gregor process.
type proc struct {
	t    *testing.T
	name string
	log  string
	cmd  *exec.Cmd
	done chan struct{}
}

// start runs gregor with args, its output in a log file of dir that the
// test prints when it fails; the process is stopped at the end of the test.
func start(t *testing.T, dir, name string, args ...string) *proc {
	t.Helper()
	p := &proc{t: t, name: name, log: filepath.Join(dir, name+".log"), done: make(chan struct{})}
	f, err := os.Create(p.log)
	if err != nil {
		t.Fatal(err)
	}
	p.cmd = exec.Command(gregorBin, args...)
	p.cmd.Stdout, p.cmd.Stderr = f, f
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		f.Close()
		t.Fatalf("starting %s: %v", name, err)
	}
	go func() {
		p.cmd.Wait()
		f.Close()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			b, _ := os.ReadFile(p.log)
			if len(b) > 4000 {
				b = b[len(b)-4000:]
			}
			t.Logf("--- log of %s:\n%s", name, b)
		}
	})
	return p
}

// stop sends SIGTERM and waits for a clean exit (SIGKILL after 30 s).
func (p *proc) stop() {
	select {
	case <-p.done:
		return
	default:
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
	}
}

// freeAddr is a 127.0.0.1 address with a port free now.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// get returns the body of url, or an error for any status but 200.
func get(url string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return "", fmt.Errorf("%s: %s %s", url, resp.Status, strings.TrimSpace(string(b)))
	}
	return string(b), err
}

// eventually retries fn until it succeeds or d passes (generous: the
// machine is shared), failing the test with fn's last error.
func eventually(t *testing.T, d time.Duration, what string, fn func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		err := fn()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// ready waits for the process's /readyz on its HTTP address.
func ready(t *testing.T, p *proc, httpAddr string) {
	t.Helper()
	eventually(t, 90*time.Second, p.name+" ready", func() error {
		select {
		case <-p.done:
			t.Fatalf("%s exited", p.name)
		default:
		}
		_, err := get("http://" + httpAddr + "/readyz")
		return err
	})
}
