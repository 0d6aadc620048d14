// Package security holds what gregor's Kafka listeners need to speak Kafka's
// security protocols and knows nothing of the broker: TLS configurations
// built from PEM files as Kafka configures them (ssl.keystore.type=PEM),
// reloaded when the files change, and the SASL mechanisms PLAIN,
// SCRAM-SHA-256 and SCRAM-SHA-512 as server-side conversations.
//
// SCRAM uses github.com/xdg-go/scram (RFC 5802/7677, maintained, already a
// dependency of the Kafka clients in the test matrix) rather than
// hand-written message parsing and proof checks; the stored credential
// format is Kafka's (salt, iterations, StoredKey, ServerKey).
package security
