package nameserver

// TLS on the NameServer port (issue 15 item 6). With Config.TLS set the
// HTTP API is served over TLS only: registration, unregistration, leases,
// route queries, /healthz and /metrics alike (a plaintext request is
// answered only by Go's 400 "Client sent an HTTP request to an HTTPS
// server"). Whether a client must present a certificate is
// the tls.Config's ClientAuth (`nameserver.ssl.client.auth`: none by
// default, requested or required), so a broker without a certificate of
// the cluster's CA can neither register nor unregister. TLS and
// cluster.secret (auth.go) combine: the secret then no longer travels in
// the clear. The package reads no files: the caller builds the tls.Config
// (cmd/gregor with broker/security's reloader, so a renewed certificate is
// served without a restart).

import (
	"crypto/tls"
	"net"
	"net/http"
)

// tlsListener wraps ln in TLS when cfg is set.
func tlsListener(ln net.Listener, cfg *tls.Config) net.Listener {
	if cfg == nil {
		return ln
	}
	cfg = cfg.Clone()
	if len(cfg.NextProtos) == 0 {
		cfg.NextProtos = []string{"http/1.1"}
	}
	return tls.NewListener(ln, cfg)
}

// WithTLS makes c reach the NameServers over https with cfg (trusting the
// cluster's CA, with a client certificate when the NameServers ask for
// one); nil keeps plain http. It returns c.
func (c *Client) WithTLS(cfg *tls.Config) *Client {
	if cfg == nil {
		return c
	}
	c.tls = true
	c.http = &http.Client{Timeout: c.http.Timeout, Transport: &http.Transport{
		TLSClientConfig:     cfg,
		ForceAttemptHTTP2:   false,
		MaxIdleConnsPerHost: 4,
	}}
	return c
}

// scheme is the URL scheme of c's requests.
func (c *Client) scheme() string {
	if c.tls {
		return "https://"
	}
	return "http://"
}
