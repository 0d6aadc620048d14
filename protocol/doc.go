// Package protocol is gregor's Kafka wire layer: size-prefixed frames, request
// headers v0–v2, kmsg decoding and encoding, the ApiVersions table, and
// strict per-connection response order. It knows no broker state.
//
// # How a connection is served (server.go)
//
// Each accepted connection gets two goroutines. The reader reads one
// size-prefixed frame at a time (a size above socket.request.max.bytes, or a
// negative one, closes the connection before anything is allocated), checks
// the api key and version against the broker's table, parses the header
// (v1, or v2 with tagged fields for flexible versions) and decodes the body
// with kmsg. Each request gets a slot in the connection's queue and is
// handled on a goroutine of its own:
//
//   - read-only APIs the broker marks Concurrent (Fetch, ListOffsets,
//     Metadata, …) start at once, so a long-polling fetch never holds up the
//     requests behind it;
//   - every other request starts when the previous such request of the
//     connection has been handled, so pipelined writes (several Produce
//     requests in flight, OffsetCommit) apply in the order they were sent.
//
// The writer takes the slots in arrival order, waits for each, and writes
// its response, flushing whenever the next one is not ready yet. Responses
// therefore leave strictly in request order; a nil response (Produce with
// acks=0) writes nothing but keeps its place; a handler error closes the
// connection. Connections share nothing but the handler, so a slow client
// or a parked fetch on one never blocks another.
//
// Memory: a connection holds at most MaxInFlight requests and
// MaxInFlightBytes of request frames (one larger frame is admitted when
// nothing else is in flight); beyond that the reader stops reading and TCP
// pushes back on the client.
//
// Zero copy: a response implementing BodyWriter writes its own body to a
// BodySink, which sends file ranges with sendfile(2) at explicit offsets
// (never a shared seek position) and copies small ranges through its
// buffer.
//
// Shutdown stops accepting and reading, cancels the handlers' context (a
// parked fetch answers at once), writes every response owed and closes.
//
// # Panics
//
// A panic is a bug, and it costs the request that met it, never the
// process: a handler's panic is answered like a handler error (the answers
// owed before it are written, then the connection is closed); a response
// whose encoding panics is dropped the same way (the answers before it are
// flushed, the connection closed, the response still released); a panic in
// a connection's reader or writer ends that connection. Other connections
// never notice.
package protocol
