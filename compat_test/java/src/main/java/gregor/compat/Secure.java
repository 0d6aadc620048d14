package gregor.compat;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.SaslAuthenticationException;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * The secure mode of the Java client (compat_test/security_clients_test.go):
 *
 *   secure --bootstrap B --topic T --count N --security SSL|SASL_SSL|PLAINTEXT
 *          [--ca FILE] [--cert FILE --key FILE] [--mechanism PLAIN|SCRAM-SHA-512 --user U --password P]
 *
 * Asks the cluster's id (Admin, --refusal-wait seconds, 20 by default), then writes N records (key k-(i%7),
 * value java-i) to partition 0 of T and reads partition 0 back from the start
 * without a group, printing {"k","v"} of each. A client that cannot connect
 * or log in prints one {"error": "auth"|"conn", "message": ...} line instead:
 * auth for a SASL authentication failure, conn for anything else (a TLS
 * failure, a timeout).
 */
final class Secure {
    private Secure() {}

    static void run(java.util.Map<String, String> a) throws Exception {
        Properties base = new Properties();
        base.put("bootstrap.servers", a.get("bootstrap"));
        base.put("client.id", "compat-java-sec");
        base.put("security.protocol", a.getOrDefault("security", "PLAINTEXT"));
        if (a.containsKey("ca")) {
            base.put("ssl.truststore.type", "PEM");
            base.put("ssl.truststore.location", a.get("ca"));
        }
        if (a.containsKey("cert")) { // a client certificate and its key (PEM files), in-line
            base.put("ssl.keystore.type", "PEM");
            base.put("ssl.keystore.certificate.chain", java.nio.file.Files.readString(java.nio.file.Path.of(a.get("cert"))));
            base.put("ssl.keystore.key", java.nio.file.Files.readString(java.nio.file.Path.of(a.get("key"))));
        }
        String mech = a.getOrDefault("mechanism", "");
        if (!mech.isEmpty()) {
            base.put("sasl.mechanism", mech);
            String module = mech.equals("PLAIN") ? "org.apache.kafka.common.security.plain.PlainLoginModule"
                    : "org.apache.kafka.common.security.scram.ScramLoginModule";
            base.put("sasl.jaas.config", module + " required username=\"" + a.get("user")
                    + "\" password=\"" + a.get("password") + "\";");
        }
        base.put("reconnect.backoff.max.ms", "1000");
        // Closed without waiting: a refused connection leaves describeCluster
        // pending, and close() would wait for it until default.api.timeout.ms
        // (60 s) has passed.
        Admin admin = Admin.create(base);
        try {
            long wait = (long) (Double.parseDouble(a.getOrDefault("refusal-wait", "20")) * 1000);
            admin.describeCluster().clusterId().get(wait, TimeUnit.MILLISECONDS);
        } catch (ExecutionException e) {
            Throwable c = e.getCause();
            error(c instanceof SaslAuthenticationException ? "auth" : "conn", c);
            return;
        } catch (java.util.concurrent.TimeoutException e) {
            error("conn", e);
            return;
        } finally {
            admin.close(Duration.ZERO);
        }
        String topic = a.get("topic");
        int n = Integer.parseInt(a.get("count"));
        Properties p = new Properties();
        p.putAll(base);
        p.put("key.serializer", StringSerializer.class.getName());
        p.put("value.serializer", StringSerializer.class.getName());
        p.put("acks", "all");
        p.put("linger.ms", "5");
        p.put("max.block.ms", "20000");
        try (KafkaProducer<String, String> prod = new KafkaProducer<>(p)) {
            List<Future<RecordMetadata>> acks = new ArrayList<>();
            for (int i = 0; i < n; i++) {
                acks.add(prod.send(new ProducerRecord<>(topic, 0, "k-" + (i % 7), "java-" + i)));
            }
            prod.flush();
            for (Future<RecordMetadata> f : acks) {
                f.get(30, TimeUnit.SECONDS);
            }
        }
        Properties c = new Properties();
        c.putAll(base);
        c.put("key.deserializer", StringDeserializer.class.getName());
        c.put("value.deserializer", StringDeserializer.class.getName());
        c.put("enable.auto.commit", "false");
        try (KafkaConsumer<String, String> cons = new KafkaConsumer<>(c)) {
            TopicPartition tp = new TopicPartition(topic, 0);
            cons.assign(List.of(tp));
            cons.seekToBeginning(List.of(tp));
            int got = 0;
            long deadline = System.currentTimeMillis() + 30_000;
            while (got < n && System.currentTimeMillis() < deadline) {
                for (ConsumerRecord<String, String> r : cons.poll(Duration.ofMillis(500))) {
                    System.out.println("{\"k\":" + Main.q(r.key()) + ",\"v\":" + Main.q(r.value()) + "}");
                    got++;
                }
            }
        }
        System.out.flush();
    }

    private static void error(String kind, Throwable t) {
        System.out.println("{\"error\":" + Main.q(kind) + ",\"message\":"
                + Main.q(t.getClass().getSimpleName() + ": " + t.getMessage()) + "}");
        System.out.flush();
    }
}
