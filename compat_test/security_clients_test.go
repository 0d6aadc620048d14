package compat

// Security scenarios of sarama and kafka-go (issue 15 item 8): SASL_SSL with
// SCRAM-SHA-512 and SSL with a client certificate, produce then consume;
// a wrong password refused. The same on the Kafka reference.

import (
	"crypto/sha512"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	kafka "github.com/segmentio/kafka-go"
	kscram "github.com/segmentio/kafka-go/sasl/scram"
	"github.com/xdg-go/scram"
)

// xdgSCRAM is sarama's SCRAMClient over xdg-go/scram (sarama's own example).
type xdgSCRAM struct {
	*scram.ClientConversation
}

func (x *xdgSCRAM) Begin(user, pass, authz string) error {
	c, err := scram.HashGeneratorFcn(sha512.New).NewClient(user, pass, authz)
	if err != nil {
		return err
	}
	x.ClientConversation = c.NewConversation()
	return nil
}

func (x *xdgSCRAM) Step(challenge string) (string, error) {
	return x.ClientConversation.Step(challenge)
}
func (x *xdgSCRAM) Done() bool { return x.ClientConversation.Done() }

func saramaSecure(user, pass string, sslOnly bool) *sarama.Config {
	cfg := saramaConfig()
	cfg.Net.TLS.Enable = true
	cfg.Net.TLS.Config = clientTLS(sslOnly)
	if !sslOnly {
		cfg.Net.SASL.Enable = true
		cfg.Net.SASL.Mechanism = sarama.SASLTypeSCRAMSHA512
		cfg.Net.SASL.User, cfg.Net.SASL.Password = user, pass
		cfg.Net.SASL.SCRAMClientGeneratorFunc = func() sarama.SCRAMClient { return &xdgSCRAM{} }
	}
	cfg.Metadata.Retry.Max = 2
	cfg.Producer.Retry.Max = 2
	return cfg
}

func TestSecurityClients(t *testing.T) {
	matrixGo(t, "sarama", "SASL_SSL SCRAM-SHA-512 and SSL client certificate; wrong password refused", apisSASL, func(t *testing.T, tg *target) {
		sa := secureOf(t, tg)
		topic := newTopic(t, sa.twin(tg), "sarama-sec", 1)
		for _, c := range []struct {
			name, addr string
			cfg        *sarama.Config
		}{
			{"SASL_SSL SCRAM-SHA-512", sa.saslSSL, saramaSecure("carol", "carol-secret", false)},
			{"SSL", sa.ssl, saramaSecure("", "", true)},
		} {
			p, err := sarama.NewSyncProducer([]string{c.addr}, c.cfg)
			if err != nil {
				t.Fatalf("%s producer: %v", c.name, err)
			}
			if _, _, err := p.SendMessage(&sarama.ProducerMessage{Topic: topic, Value: sarama.StringEncoder(c.name)}); err != nil {
				t.Fatalf("%s produce: %v", c.name, err)
			}
			p.Close()
		}
		cons, err := sarama.NewConsumer([]string{sa.saslSSL}, saramaSecure("carol", "carol-secret", false))
		if err != nil {
			t.Fatal(err)
		}
		defer cons.Close()
		pc, err := cons.ConsumePartition(topic, 0, sarama.OffsetOldest)
		if err != nil {
			t.Fatal(err)
		}
		defer pc.Close()
		var got []string
		for len(got) < 2 {
			select {
			case m := <-pc.Messages():
				got = append(got, string(m.Value))
			case <-time.After(30 * time.Second):
				t.Fatalf("consumed %v", got)
			}
		}
		if got[0] != "SASL_SSL SCRAM-SHA-512" || got[1] != "SSL" {
			t.Fatalf("consumed %v", got)
		}
		_, err = sarama.NewClient([]string{sa.saslSSL}, saramaSecure("carol", "wrong", false))
		if err == nil || !(errors.Is(err, sarama.ErrSASLAuthenticationFailed) || strings.Contains(err.Error(), "SASL") || strings.Contains(err.Error(), "authentic")) {
			t.Fatalf("a wrong password: %v, want an authentication failure", err)
		}
	})

	matrixGo(t, "kafka-go", "SASL_SSL SCRAM-SHA-512 write and read; wrong password refused", apisSASL, func(t *testing.T, tg *target) {
		sa := secureOf(t, tg)
		topic := newTopic(t, sa.twin(tg), "kgo-sec", 1)
		mech, err := kscram.Mechanism(kscram.SHA512, "carol", "carol-secret")
		if err != nil {
			t.Fatal(err)
		}
		tr := &kafka.Transport{SASL: mech, TLS: clientTLS(false)}
		w := &kafka.Writer{Addr: kafka.TCP(sa.saslSSL), Topic: topic, Transport: tr, RequiredAcks: kafka.RequireAll, BatchTimeout: 5 * time.Millisecond}
		defer w.Close()
		ctx := ctxT(t, 60*time.Second)
		for i := 0; i < 3; i++ {
			if err := w.WriteMessages(ctx, kafka.Message{Value: []byte(fmt.Sprint(i))}); err != nil {
				t.Fatalf("write: %v", err)
			}
		}
		r := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{sa.saslSSL}, Topic: topic, Partition: 0, MaxWait: 200 * time.Millisecond,
			Dialer: &kafka.Dialer{SASLMechanism: mech, TLS: clientTLS(false), Timeout: 10 * time.Second}})
		defer r.Close()
		for i := 0; i < 3; i++ {
			m, err := r.ReadMessage(ctx)
			if err != nil || string(m.Value) != fmt.Sprint(i) {
				t.Fatalf("read %d: %v %q", i, err, m.Value)
			}
		}
		bad, _ := kscram.Mechanism(kscram.SHA512, "carol", "wrong")
		d := &kafka.Dialer{SASLMechanism: bad, TLS: clientTLS(false), Timeout: 10 * time.Second}
		conn, err := d.DialContext(ctxT(t, 20*time.Second), "tcp", sa.saslSSL)
		if err == nil {
			conn.Close()
			t.Fatal("a wrong password was accepted")
		}
	})
}
