package console_test

// End-to-end tests of the console in Debian's headless Chromium (chromedp):
// a broker with data, the console behind the HTTP login, values read from
// the rendered pages compared with what the Kafka API says, every write
// made through a page and checked through the Kafka API, and a pass at
// phone width. Screenshots go to $GREGOR_CONSOLE_SCREENSHOTS, or to the
// test's temporary directory (named in the log).

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/gregor-broker/gregor/broker"
	"github.com/gregor-broker/gregor/console"
	"github.com/gregor-broker/gregor/internal/httpauth"
	"github.com/gregor-broker/gregor/storage"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// chromium finds Debian's browser (scripts/install-deps.sh installs it);
// $CHROME_PATH overrides.
func chromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("CHROME_PATH"); p != "" {
		return p
	}
	for _, n := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(n); err == nil {
			return p
		}
	}
	t.Skip("no Chromium: run scripts/install-deps.sh (Debian package chromium) or set CHROME_PATH")
	return ""
}

// stack is a broker, its console behind the HTTP login, and an admin
// client of the Kafka API to check the pages against.
type stack struct {
	url  string // the HTTP server's base URL
	addr string // the Kafka listener
	adm  *kadm.Client
	cl   *kgo.Client
}

const (
	adminUser = "admin"
	adminPass = "admin-secret"
)

func startStack(t *testing.T, write bool) *stack {
	t.Helper()
	reg := prometheus.NewRegistry()
	b, err := broker.New(broker.Config{
		Listeners: []broker.Listener{{Name: "PLAINTEXT", Address: "127.0.0.1:0"}},
		Store:     storage.Config{Dir: t.TempDir(), SegmentBytes: 4 << 20},
		Topics:    broker.TopicDefaults{AutoCreate: true, NumPartitions: 1},
		Security: broker.SecurityConfig{
			PlainUsers: map[string]string{adminUser: adminPass},
			// ACLs enforced, so the ACL page's writes are real; the
			// console and the test's client are anonymous super users.
			Authorizer: true,
			SuperUsers: []string{"User:ANONYMOUS"},
		},
		Registerer: reg,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = b.Shutdown(ctx)
	})
	addr := b.Addrs()[0].String()
	c, err := console.New(console.Config{
		Kafka:          []kgo.Opt{kgo.SeedBrokers(addr)},
		Admin:          b.AdminHandler(),
		Gatherer:       reg,
		WriteEnable:    write,
		SampleInterval: 100 * time.Millisecond,
		History:        50,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	mux := http.NewServeMux()
	mux.Handle(console.Prefix, c)
	srv := httptest.NewServer(httpauth.Handler(httpauth.Config{Check: b.CheckLogin}, mux))
	t.Cleanup(srv.Close)
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.RetryTimeout(20*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return &stack{url: srv.URL, addr: addr, adm: kadm.NewClient(cl), cl: cl}
}

// browser starts headless Chromium; screenshots are written under the
// returned directory.
func browser(t *testing.T) (context.Context, string) {
	t.Helper()
	path := chromium(t)
	dir := os.Getenv("GREGOR_CONSOLE_SCREENSHOTS")
	if dir == "" {
		dir = filepath.Join(t.TempDir(), "screenshots")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox, // tests run as root in containers
		chromedp.DisableGPU,
		chromedp.WindowSize(1280, 900),
		chromedp.UserDataDir(t.TempDir()),
	)
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelC := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelC(); cancelA() })
	if err := chromedp.Do(ctx); err != nil { // starts the browser
		t.Fatalf("starting %s: %v", path, err)
	}
	return ctx, dir
}

// step bounds one browser action so a missing element fails the test
// instead of hanging it.
func step(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(sctx, actions...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	s, err := chromedp.Run(sctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		t.Fatalf("reading %s: %v", sel, err)
	}
	return strings.TrimSpace(s)
}

func eval[T any](t *testing.T, ctx context.Context, js string, opts ...chromedp.EvaluateOption) T {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	v, err := chromedp.Run(sctx, chromedp.Evaluate[T](js, opts...))
	if err != nil {
		t.Fatalf("evaluating %s: %v", js, err)
	}
	return v
}

func shot(t *testing.T, ctx context.Context, dir, name string) {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	png, err := chromedp.Run(sctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// submit fills a form's fields, submits it with its button and returns
// the next page's flash message (failing on its error message).
func submit(t *testing.T, ctx context.Context, form string, fields map[string]string) string {
	t.Helper()
	flash, errMsg := submitPage(t, ctx, form, fields)
	if errMsg != "" {
		t.Fatalf("%s: the page says: %s", form, errMsg)
	}
	t.Logf("%s: %s", form, flash)
	return flash
}

// submitPage submits a form and returns the next page's flash and error
// messages.
func submitPage(t *testing.T, ctx context.Context, form string, fields map[string]string) (flash, errMsg string) {
	t.Helper()
	// Destructive forms ask window.confirm first: say yes. The marker
	// tells this page from the next one.
	acts := []chromedp.Action[chromedp.Void]{chromedp.Evaluate[chromedp.Void](`window.confirm = () => true; window.__before = true; undefined`)}
	for name, v := range fields {
		acts = append(acts, chromedp.SetValue(chromedp.CSS(form+` [name="`+name+`"]`), v))
	}
	acts = append(acts, chromedp.Click(chromedp.CSS(form+` button[type=submit]`)))
	step(t, ctx, "submitting "+form, acts...)
	deadline := time.Now().Add(20 * time.Second)
	for {
		// Errors while the next page loads are expected: ask again.
		res, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`window.__before || document.readyState !== "complete" ? null :
			[(document.querySelector("#flash")||{}).textContent||"", (document.querySelector("#error")||{}).textContent||""]`))
		if err == nil && len(res) == 2 && (res[0] != "" || res[1] != "") {
			return strings.TrimSpace(res[0]), strings.TrimSpace(res[1])
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: no answer page after 20 s (%v)", form, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func login(t *testing.T, ctx context.Context, s *stack) {
	t.Helper()
	step(t, ctx, "login",
		chromedp.Navigate(s.url+"/console/"),
		chromedp.WaitVisible(chromedp.CSS(`input[name="username"]`)),
		chromedp.SetValue(chromedp.CSS(`input[name="username"]`), adminUser),
		chromedp.SetValue(chromedp.CSS(`input[name="password"]`), adminPass),
		chromedp.Click(chromedp.CSS(`button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS("#cluster-id")),
	)
}

func nav(t *testing.T, ctx context.Context, url, waitFor string) {
	t.Helper()
	step(t, ctx, "opening "+url, chromedp.Navigate(url), chromedp.WaitVisible(chromedp.CSS(waitFor)))
}

// seed makes topic orders (3 partitions) with records whose keys, values
// and headers the test knows, and group g1 with commits that leave a
// known lag per partition.
func seed(t *testing.T, s *stack) map[int32]int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := s.adm.CreateTopic(ctx, 3, 1, nil, "orders"); err != nil {
		t.Fatal(err)
	}
	perPart := map[int32]int{0: 7, 1: 12, 2: 4}
	for p, n := range perPart {
		for i := 0; i < n; i++ {
			r := &kgo.Record{Topic: "orders", Partition: p, Key: []byte(fmt.Sprintf("key-%d-%d", p, i)),
				Value:   []byte(fmt.Sprintf(`{"partition":%d,"n":%d}`, p, i)),
				Headers: []kgo.RecordHeader{{Key: "trace-id", Value: []byte(fmt.Sprintf("t-%d-%d", p, i))}, {Key: "source", Value: []byte("seed")}}}
			if err := s.cl.ProduceSync(ctx, r).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
	}
	var o kadm.Offsets
	o.AddOffset("orders", 0, 2, -1)
	o.AddOffset("orders", 1, 5, -1)
	o.AddOffset("orders", 2, 4, -1)
	if err := s.adm.CommitAllOffsets(ctx, "g1", o); err != nil {
		t.Fatal(err)
	}
	return perPart
}

func manualPartitioner() kgo.Opt { return kgo.RecordPartitioner(kgo.ManualPartitioner()) }

func TestConsoleInBrowser(t *testing.T) {
	chromium(t)
	s := startStack(t, true)
	// The seed client must send to the partitions it names.
	cl, err := kgo.NewClient(kgo.SeedBrokers(s.addr), manualPartitioner())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	s.cl = cl
	seed(t, s)
	ctx, dir := browser(t)
	t.Logf("screenshots in %s", dir)
	api, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	login(t, ctx, s)

	// Cluster: the cluster id and the member's role, as Kafka and
	// /cluster/status say.
	md, err := s.adm.BrokerMetadata(api)
	if err != nil {
		t.Fatal(err)
	}
	if got := text(t, ctx, "#cluster-id"); got != md.Cluster {
		t.Errorf("cluster page: cluster id %q, Kafka says %q", got, md.Cluster)
	}
	if got := text(t, ctx, `table.members tr[data-member="0"] td.role`); got != "master" {
		t.Errorf("cluster page: member 0 role %q, want master", got)
	}
	shot(t, ctx, dir, "cluster")

	// Topics: the partition count of orders.
	nav(t, ctx, s.url+"/console/topics", "#topics")
	tmd, err := s.adm.Metadata(api, "orders")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := text(t, ctx, `tr[data-topic="orders"] td.partitions`), strconv.Itoa(len(tmd.Topics["orders"].Partitions)); got != want {
		t.Errorf("topics page: orders has %s partitions, Kafka says %s", got, want)
	}
	shot(t, ctx, dir, "topics")

	// A topic: each partition's end offset and leader.
	nav(t, ctx, s.url+"/console/topics/orders", "#partitions")
	ends, err := s.adm.ListEndOffsets(api, "orders")
	if err != nil {
		t.Fatal(err)
	}
	ends.Each(func(o kadm.ListedOffset) {
		if got := text(t, ctx, fmt.Sprintf(`tr[data-partition="%d"] td.end`, o.Partition)); got != strconv.FormatInt(o.Offset, 10) {
			t.Errorf("topic page: orders/%d ends at %s, Kafka says %d", o.Partition, got, o.Offset)
		}
	})
	for _, p := range tmd.Topics["orders"].Partitions {
		if got := text(t, ctx, fmt.Sprintf(`tr[data-partition="%d"] td.leader`, p.Partition)); got != strconv.Itoa(int(p.Leader)) {
			t.Errorf("topic page: leader of orders/%d is %s, Kafka says %d", p.Partition, got, p.Leader)
		}
	}
	shot(t, ctx, dir, "topic")

	// Messages: orders/1 at offset 3, as JSON; its key and headers are
	// those a Kafka consumer reads at that offset.
	want := fetchOne(t, s.addr, "orders", 1, 3)
	nav(t, ctx, s.url+"/console/messages?topic=orders&partition=1&mode=offset&offset=3&limit=5&format=json", "#records article")
	first := `#records article[data-offset="3"]`
	if got := text(t, ctx, first+" dd.key"); got != string(want.Key) {
		t.Errorf("message browser: key %q, Kafka says %q", got, want.Key)
	}
	hdrs := eval[[]string](t, ctx, `Array.from(document.querySelectorAll('#records article[data-offset="3"] dl.headers > *')).map(e => e.textContent)`)
	var wantH []string
	for _, h := range want.Headers {
		wantH = append(wantH, h.Key, string(h.Value))
	}
	if fmt.Sprint(hdrs) != fmt.Sprint(wantH) {
		t.Errorf("message browser: headers %q, Kafka says %q", hdrs, wantH)
	}
	if got := text(t, ctx, first+" pre.value"); !strings.Contains(got, `"n": 3`) {
		t.Errorf("message browser: JSON value %q lacks \"n\": 3", got)
	}
	shot(t, ctx, dir, "messages-json")
	// Hex, and a search by key.
	nav(t, ctx, s.url+"/console/messages?topic=orders&partition=1&mode=offset&offset=3&limit=1&format=hex", "#records article")
	if got := text(t, ctx, first+" pre.value"); !strings.HasPrefix(got, "00000000  7b 22") {
		t.Errorf("message browser: hex value %q", got)
	}
	nav(t, ctx, s.url+"/console/messages?topic=orders&partition=1&mode=key&key=key-1-9", "#records article")
	if got := text(t, ctx, "#records article .offset"); got != "9" {
		t.Errorf("message browser: key key-1-9 found at offset %s, want 9", got)
	}
	// By timestamp: from the first record's time, the first record.
	nav(t, ctx, s.url+"/console/messages?topic=orders&partition=2&mode=timestamp&timestamp="+strconv.FormatInt(fetchOne(t, s.addr, "orders", 2, 0).Timestamp.UnixMilli(), 10), "#records article")
	if got := text(t, ctx, "#records article .offset"); got != "0" {
		t.Errorf("message browser: by timestamp starts at %s, want 0", got)
	}

	// Groups: the lag of each partition after the seeded commits.
	lags, err := s.adm.Lag(api, "g1")
	if err != nil {
		t.Fatal(err)
	}
	nav(t, ctx, s.url+"/console/groups/g1", "#lag")
	for _, l := range lags["g1"].Lag.Sorted() {
		if got := text(t, ctx, fmt.Sprintf(`tr[data-lag="orders/%d"] td.lag`, l.Partition)); got != strconv.FormatInt(l.Lag, 10) {
			t.Errorf("group page: lag of orders/%d is %s, Kafka says %d", l.Partition, got, l.Lag)
		}
	}
	// The lag chart fills as samples arrive (every 100 ms here).
	waitFor(t, ctx, s.url+"/console/groups/g1", `#lag-chart svg polyline`)
	shot(t, ctx, dir, "group")

	// A live member: its client id and assignment as DescribeGroups has
	// them.
	member, err := kgo.NewClient(kgo.SeedBrokers(s.addr), kgo.ConsumerGroup("live"), kgo.ConsumeTopics("orders"),
		kgo.ClientID("live-member"), kgo.HeartbeatInterval(200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer member.Close()
	var assigned string
	for assigned == "" {
		pctx, pcancel := context.WithTimeout(api, 500*time.Millisecond)
		member.PollFetches(pctx)
		pcancel()
		dg, err := s.adm.DescribeGroups(api, "live")
		if err == nil && dg["live"].State == "Stable" && len(dg["live"].Members) == 1 {
			if ca, ok := dg["live"].Members[0].Assigned.AsConsumer(); ok && len(ca.Topics) == 1 {
				ps := slices.Clone(ca.Topics[0].Partitions)
				slices.Sort(ps)
				var txt []string
				for _, p := range ps {
					txt = append(txt, strconv.Itoa(int(p)))
				}
				assigned = ca.Topics[0].Topic + ": " + strings.Join(txt, ",")
			}
		}
		if api.Err() != nil {
			t.Fatal("group live never became stable")
		}
	}
	nav(t, ctx, s.url+"/console/groups/live", "#members")
	if got := text(t, ctx, "#members td.assigned"); got != assigned {
		t.Errorf("group page: the member is assigned %q, DescribeGroups says %q", got, assigned)
	}
	if got := text(t, ctx, "#members td.client"); got != "live-member" {
		t.Errorf("group page: member client id %q", got)
	}
	shot(t, ctx, dir, "group-live")
	// Kafka resets only an empty group's offsets: the page says so.
	if _, msg := submitPage(t, ctx, "#reset-offsets", map[string]string{"topic": "orders", "to": "latest"}); !strings.Contains(msg, "stop its consumers") {
		t.Errorf("resetting a live group's offsets: %q", msg)
	}
	member.Close()

	// Metrics: the charts have lines once two samples were taken.
	waitFor(t, ctx, s.url+"/console/metrics", `#charts svg polyline`)
	shot(t, ctx, dir, "metrics")

	// ---- writes, each through its page, each checked through Kafka.
	nav(t, ctx, s.url+"/console/topics", "#create-topic")
	submit(t, ctx, "#create-topic", map[string]string{"name": "made-here", "partitions": "2", "configs": "retention.ms=7200000"})
	if n := partitions(t, s, "made-here"); n != 2 {
		t.Fatalf("created topic has %d partitions, want 2", n)
	}
	shot(t, ctx, dir, "topic-created")
	submit(t, ctx, "#alter-config", map[string]string{"name": "retention.ms", "value": "3600000"})
	if v := topicConfig(t, s, "made-here", "retention.ms"); v != "3600000" {
		t.Errorf("after the config change retention.ms is %q", v)
	}
	submit(t, ctx, "#add-partitions", map[string]string{"count": "4"})
	if n := partitions(t, s, "made-here"); n != 4 {
		t.Errorf("after adding partitions made-here has %d", n)
	}
	// A write without the CSRF token is refused, even with the session.
	status := eval[int](t, ctx, `fetch("/console/topics", {method: "POST", body: new URLSearchParams({name: "no-token", partitions: "1"})}).then(r => r.status)`, chromedp.EvalAwaitPromise)
	if status != http.StatusForbidden {
		t.Errorf("a POST without the CSRF token: status %d, want 403", status)
	}
	if n := partitions(t, s, "no-token"); n != 0 {
		t.Errorf("the POST without the CSRF token created a topic")
	}
	nav(t, ctx, s.url+"/console/topics/made-here", "#delete-topic")
	submit(t, ctx, "#delete-topic", map[string]string{"confirm": "made-here"})
	if n := partitions(t, s, "made-here"); n != 0 {
		t.Errorf("made-here still has %d partitions after its deletion", n)
	}

	// Reset g1's offsets of orders to the earliest.
	nav(t, ctx, s.url+"/console/groups/g1", "#reset-offsets")
	submit(t, ctx, "#reset-offsets", map[string]string{"topic": "orders", "to": "earliest"})
	offs, err := s.adm.FetchOffsets(api, "g1")
	if err != nil {
		t.Fatal(err)
	}
	offs.Each(func(o kadm.OffsetResponse) {
		if o.Topic == "orders" && o.At != 0 {
			t.Errorf("after the reset g1 is at %d on orders/%d, want 0", o.At, o.Partition)
		}
	})
	nav(t, ctx, s.url+"/console/groups/g1", "#lag")
	if got := text(t, ctx, `tr[data-lag="orders/1"] td.lag`); got != "12" {
		t.Errorf("after the reset the page shows lag %s on orders/1, want 12", got)
	}

	// An ACL and a SCRAM user, made and removed through the security page.
	nav(t, ctx, s.url+"/console/security", "#create-acl")
	submit(t, ctx, "#create-acl", map[string]string{"principal": "User:bob", "type": "topic", "name": "orders", "operation": "read", "permission": "allow"})
	if n := aclCount(t, s, "User:bob"); n != 1 {
		t.Errorf("after adding an ACL bob has %d", n)
	}
	submit(t, ctx, "#upsert-user", map[string]string{"user": "carol", "password": "carol-secret", "mechanism": "SCRAM-SHA-256"})
	us, err := s.adm.DescribeUserSCRAMs(api, "carol")
	if err != nil || len(us["carol"].CredInfos) != 1 || us["carol"].CredInfos[0].Mechanism != kadm.ScramSha256 {
		t.Errorf("carol after the page set her password: %+v %v", us, err)
	}
	shot(t, ctx, dir, "security")
	submit(t, ctx, `tr[data-acl^="User:bob"] form.delete-acl`, nil)
	if n := aclCount(t, s, "User:bob"); n != 0 {
		t.Errorf("after deleting the ACL bob has %d", n)
	}
	submit(t, ctx, `tr[data-user="carol"] form.delete-user`, nil)
	if us, err := s.adm.DescribeUserSCRAMs(api); err == nil {
		if _, ok := us["carol"]; ok {
			t.Errorf("carol still has credentials after the page deleted them")
		}
	}

	// Phone width: every page fits 390 px without scrolling sideways
	// (wide tables scroll inside their own box).
	step(t, ctx, "phone viewport", chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile))
	for _, p := range []struct{ name, path, wait string }{
		{"cluster", "/console/", "#cluster-id"},
		{"topics", "/console/topics", "#topics"},
		{"topic", "/console/topics/orders", "#partitions"},
		{"messages", "/console/messages?topic=orders&partition=1&offset=0&limit=3", "#records article"},
		{"groups", "/console/groups", "#groups"},
		{"group", "/console/groups/g1", "#lag"},
		{"security", "/console/security", "#acls"},
		{"metrics", "/console/metrics", "#charts"},
	} {
		nav(t, ctx, s.url+p.path, p.wait)
		if w := eval[int](t, ctx, `document.documentElement.scrollWidth`); w > 390 {
			t.Errorf("phone width: %s is %d px wide, wider than the 390 px screen", p.name, w)
		}
		shot(t, ctx, dir, "phone-"+p.name)
	}
}

// waitFor reloads url until sel exists (samples arrive in the background).
func waitFor(t *testing.T, ctx context.Context, url, sel string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		nav(t, ctx, url, "main")
		if eval[bool](t, ctx, `document.querySelector(`+strconv.Quote(sel)+`) !== null`) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: no %s after 20 s", url, sel)
		}
		time.Sleep(150 * time.Millisecond)
	}
}

func fetchOne(t *testing.T, addr, topic string, p int32, off int64) *kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {p: kgo.NewOffset().At(off)}}))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("fetching %s/%d@%d: %v", topic, p, off, err)
		}
		for _, r := range fs.Records() {
			if r.Offset == off {
				return r
			}
		}
	}
}

func partitions(t *testing.T, s *stack, topic string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	md, err := s.adm.Metadata(kadm.WithAuthorizedOps(ctx), topic) // not from the client's cache
	if err != nil {
		t.Fatal(err)
	}
	td, ok := md.Topics[topic]
	if !ok || td.Err != nil {
		return 0
	}
	return len(td.Partitions)
}

func topicConfig(t *testing.T, s *stack, topic, key string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	rcs, err := s.adm.DescribeTopicConfigs(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := rcs.On(topic, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range rc.Configs {
		if c.Key == key {
			return c.MaybeValue()
		}
	}
	return ""
}

func aclCount(t *testing.T, s *stack, principal string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res, err := s.adm.DescribeACLs(ctx, kadm.NewACLs().AnyResource().Allow(principal).AllowHosts().Deny(principal).DenyHosts().
		Operations(kadm.OpAny).ResourcePatternType(kadm.ACLPatternAny))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, r := range res {
		n += len(r.Described)
	}
	return n
}

func newServer(t *testing.T, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}
