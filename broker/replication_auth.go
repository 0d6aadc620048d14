package broker

// The replication port's authentication (issue 15 item 6): cluster.secret
// proven both ways (replication/auth.go) and/or replication.ssl.enable,
// TLS with the broker's key and trust stores and client certificates
// required, so only a broker of the cluster can follow a master or feed a
// slave.

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/gregor-broker/gregor/broker/security"
	"github.com/gregor-broker/gregor/replication"
	"go.uber.org/zap"
)

// replicationAuthTimeout bounds a connecting slave's TLS and secret
// handshakes.
const replicationAuthTimeout = 10 * time.Second

// replicationTLS returns the server and client TLS configurations of the
// replication port, nil without replication.ssl.enable.
func (b *Broker) replicationTLS() (server, client *tls.Config, err error) {
	if !b.cfg.Replication.TLS {
		return nil, nil, nil
	}
	cfg := b.cfg.Security.TLS
	cfg.ClientAuth = "required"
	r, err := security.NewReloader(cfg, func(err error) {
		b.log.Warn("reloading the TLS key or trust store of the replication port failed", zap.Error(err))
	})
	if err != nil {
		return nil, nil, fmt.Errorf("broker: replication.ssl.enable: %w", err)
	}
	return r.Config(), r.ClientConfig(), nil
}

func (b *Broker) secureReplicationListener(ln net.Listener) (net.Listener, error) {
	srv, _, err := b.replicationTLS()
	if err != nil {
		ln.Close()
		return nil, err
	}
	return replication.SecureListener(ln, srv, b.cfg.Cluster.Secret, replicationAuthTimeout, func(a net.Addr, err error) {
		b.log.Warn("refused a replication connection", zap.Stringer("remote", a), zap.Error(err))
	}), nil
}

func (b *Broker) secureReplicationDial() (func(ctx context.Context, addr string) (net.Conn, error), error) {
	_, cli, err := b.replicationTLS()
	if err != nil {
		return nil, err
	}
	return replication.SecureDial(nil, cli, b.cfg.Cluster.Secret), nil
}

// httpScheme and httpDo are how a broker calls the HTTP port of another
// member of its group (promote.go): https with http.ssl.enable, and the
// cluster secret as a Bearer token, which the port's login accepts as the
// cluster's own (internal/httpauth).
func (b *Broker) httpScheme() string {
	if b.cfg.Cluster.HTTPTLS != nil {
		return "https"
	}
	return "http"
}

func (b *Broker) httpDo(req *http.Request) (*http.Response, error) {
	if s := b.cfg.Cluster.Secret; s != "" {
		req.Header.Set("Authorization", "Bearer "+s)
	}
	cl := http.DefaultClient
	if t := b.cfg.Cluster.HTTPTLS; t != nil {
		cl = &http.Client{Transport: &http.Transport{TLSClientConfig: t}}
	}
	return cl.Do(req)
}
