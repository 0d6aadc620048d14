package broker

import (
	"context"

	"github.com/gregor-broker/gregor/protocol"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// handlerFunc answers one request. Returning an error closes the connection
// (what Kafka does for a request it cannot parse); Kafka-level failures go in
// the response's error codes instead. A nil response with a nil error sends
// nothing (Produce with acks=0).
type handlerFunc func(ctx context.Context, b *Broker, req *protocol.Request) (kmsg.Response, error)

// api is one entry of the ApiVersions table.
type api struct {
	min, max int16
	fn       handlerFunc
}

// apis holds every implemented API by key. Each API file registers itself in
// an init function, so ApiVersions advertises exactly what has a handler.
var apis = map[int16]api{}

// register adds an API to the table; each key is registered once.
func register(key kmsg.Key, min, max int16, fn handlerFunc) {
	if _, dup := apis[int16(key)]; dup {
		panic("broker: API registered twice: " + key.Name())
	}
	apis[int16(key)] = api{min: min, max: max, fn: fn}
}
