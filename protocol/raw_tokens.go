package protocol

// Unframed SASL tokens (SaslHandshake v0, KIP-43). After a SaslHandshake
// v0 answer the client sends its SASL tokens as bare size-prefixed frames,
// without a request header, and reads the server's the same way, until the
// mechanism's exchange ends; then Kafka requests follow again. The broker
// switches a connection into that mode with ConnInfo.SetRawTokens from the
// handshake's handler. The reader checks the mode when a frame arrives:
// the client sends its first token only after it has read the handshake's
// answer, which is written after the handler returned, so the switch is
// always in place by then (and the handler of the last token switches back
// before its reply is written). A token handler's error closes the
// connection without an answer, as Kafka closes it after a failed v0
// authentication (there is no frame to carry an error in).

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"io"
)

// RawTokens answers one unframed SASL token with the server's token.
type RawTokens func(ctx context.Context, token []byte) (reply []byte, err error)

// SetRawTokens makes h answer the connection's next frames as unframed SASL
// tokens; nil goes back to Kafka requests.
func (c *ConnInfo) SetRawTokens(h RawTokens) {
	if c == nil {
		return
	}
	if h == nil {
		c.raw.Store(nil)
		return
	}
	c.raw.Store(&h)
}

func (c *ConnInfo) rawTokens() RawTokens {
	if p := c.raw.Load(); p != nil {
		return *p
	}
	return nil
}

// readRawToken reads one size-prefixed token of at most limit bytes (an
// empty one is allowed: SASL tokens may be empty).
func readRawToken(br *bufio.Reader, limit int32) ([]byte, error) {
	var size [4]byte
	if _, err := io.ReadFull(br, size[:]); err != nil {
		return nil, err
	}
	n := int32(binary.BigEndian.Uint32(size[:]))
	if n < 0 || n > limit {
		return nil, fmt.Errorf("protocol: SASL token of %d bytes (limit %d)", n, limit)
	}
	tok := make([]byte, n)
	_, err := io.ReadFull(br, tok)
	return tok, err
}

// writeRaw writes a token with its size.
func (w *BodySink) writeRaw(tok []byte) (int, error) {
	w.buf = binary.BigEndian.AppendUint32(w.buf[:0], uint32(len(tok)))
	w.buf = append(w.buf, tok...)
	_, err := w.bw.Write(w.buf)
	return len(w.buf), err
}
