package console_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/twmb/franz-go/pkg/kadm"
)

// TestPerUserInBrowser: alice logs in through the login form of a console
// acting as each user; the topics page lists only the topic her ACLs let
// her describe, and deleting it through the page (which her ACLs do not
// allow) shows Kafka's TOPIC_AUTHORIZATION_FAILED and leaves the topic
// there (checked as the super user).
func TestPerUserInBrowser(t *testing.T) {
	chromium(t)
	s := startUserStack(t)
	seedUsers(t, s)
	ctx, dir := browser(t)
	step(t, ctx, "alice logs in",
		chromedp.Navigate(s.url+"/console/topics"),
		chromedp.WaitVisible(chromedp.CSS(`input[name="username"]`)),
		chromedp.SetValue(chromedp.CSS(`input[name="username"]`), "alice"),
		chromedp.SetValue(chromedp.CSS(`input[name="password"]`), "alice-pw"),
		chromedp.Click(chromedp.CSS(`button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS("#topics")),
	)
	topics := eval[[]string](t, ctx, `Array.from(document.querySelectorAll("#topics tr[data-topic]")).map(r => r.getAttribute("data-topic"))`)
	if strings.Join(topics, ",") != "alpha" {
		t.Fatalf("alice's topics page lists %v, want only alpha", topics)
	}
	shot(t, ctx, dir, "alice-topics")
	nav(t, ctx, s.url+"/console/topics/alpha", "#delete-topic")
	_, errMsg := submitPage(t, ctx, "#delete-topic", map[string]string{"confirm": "alpha"})
	if !strings.Contains(errMsg, "TOPIC_AUTHORIZATION_FAILED") {
		t.Fatalf("alice deleting alpha: the page says %q, want TOPIC_AUTHORIZATION_FAILED", errMsg)
	}
	shot(t, ctx, dir, "alice-denied")
	cctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	md, err := s.adm.Metadata(kadm.WithAuthorizedOps(cctx), "alpha")
	if err != nil {
		t.Fatal(err)
	}
	if td, ok := md.Topics["alpha"]; !ok || td.Err != nil {
		t.Fatalf("alpha after alice's refused delete: %+v", td)
	}
}
