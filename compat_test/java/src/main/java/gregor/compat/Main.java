package gregor.compat;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.Future;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AlterConfigOp;
import org.apache.kafka.clients.admin.Config;
import org.apache.kafka.clients.admin.ConfigEntry;
import org.apache.kafka.clients.admin.ConsumerGroupDescription;
import org.apache.kafka.clients.admin.ConsumerGroupListing;
import org.apache.kafka.clients.admin.NewPartitions;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * The Java client's part of gregor's client matrix. compat_test/java_test.go runs
 * it as a process, one mode per run, and checks what it prints: one JSON object
 * per line on stdout. The program checks nothing itself except that the client
 * calls succeed; the Go test holds the expectations, so the same expectations
 * apply to every client and to both brokers.
 *
 * Modes:
 *   produce --bootstrap B --topic T --count N [--compression C]
 *       idempotent producer (the client's default, acks=all); record i has key
 *       k-(i%7), value java-i and headers idx=i, client=java; prints each ack.
 *   consume --bootstrap B --topic T --group G --count N --assignor range|cooperative-sticky
 *       classic-protocol group member; reads until N records, commits synchronously
 *       after each poll, prints each record.
 *   admin --bootstrap B --topic T --group G
 *       creates T (3 partitions, retention.ms=3600000), describes it and its
 *       configs, alters retention.ms incrementally, adds a partition, lists and
 *       describes group G and its offsets, deletes T; prints each observation.
 *   txn --bootstrap B --topic IN --out OUT --group G --txn-id X --count N --aborted M
 *       read-process-write: a read_committed group member of G reads IN, a
 *       transactional producer (transactional.id X) writes java-txn:<value> to
 *       OUT and sends the consumed offsets with sendOffsetsToTransaction, one
 *       transaction per poll, until N records moved; then one transaction of M
 *       records java-aborted-i to OUT, aborted. Prints each moved value.
 *   secure ...: over SSL/SASL_SSL, see Secure.
 */
public final class Main {
    private Main() {}

    public static void main(String[] argv) throws Exception {
        Map<String, String> a = new HashMap<>();
        for (int i = 1; i + 1 < argv.length; i += 2) {
            a.put(argv[i].replaceFirst("^--", ""), argv[i + 1]);
        }
        switch (argv[0]) {
            case "produce" -> produce(a);
            case "consume" -> consume(a);
            case "admin" -> admin(a);
            case "txn" -> txn(a);
            case "secure" -> Secure.run(a);
            default -> throw new IllegalArgumentException("unknown mode " + argv[0]);
        }
    }

    private static void produce(Map<String, String> a) throws Exception {
        Properties p = new Properties();
        p.put("bootstrap.servers", a.get("bootstrap"));
        p.put("client.id", "compat-java");
        p.put("key.serializer", StringSerializer.class.getName());
        p.put("value.serializer", StringSerializer.class.getName());
        p.put("enable.idempotence", "true");
        p.put("acks", "all");
        p.put("linger.ms", "5");
        p.put("compression.type", a.getOrDefault("compression", "none"));
        int n = Integer.parseInt(a.get("count"));
        List<Future<RecordMetadata>> acks = new ArrayList<>();
        List<ProducerRecord<String, String>> sent = new ArrayList<>();
        try (KafkaProducer<String, String> prod = new KafkaProducer<>(p)) {
            for (int i = 0; i < n; i++) {
                ProducerRecord<String, String> r =
                        new ProducerRecord<>(a.get("topic"), "k-" + (i % 7), "java-" + i);
                r.headers().add("idx", Integer.toString(i).getBytes(StandardCharsets.UTF_8));
                r.headers().add("client", "java".getBytes(StandardCharsets.UTF_8));
                sent.add(r);
                acks.add(prod.send(r));
            }
            prod.flush();
            for (int i = 0; i < n; i++) {
                RecordMetadata md = acks.get(i).get();
                System.out.println("{\"p\":" + md.partition() + ",\"o\":" + md.offset()
                        + ",\"k\":" + q(sent.get(i).key()) + ",\"v\":" + q(sent.get(i).value()) + "}");
            }
        }
    }

    private static void consume(Map<String, String> a) {
        Properties p = new Properties();
        p.put("bootstrap.servers", a.get("bootstrap"));
        p.put("client.id", "compat-java");
        p.put("group.id", a.get("group"));
        p.put("group.protocol", "classic");
        p.put("key.deserializer", StringDeserializer.class.getName());
        p.put("value.deserializer", StringDeserializer.class.getName());
        p.put("auto.offset.reset", "earliest");
        p.put("enable.auto.commit", "false");
        p.put("session.timeout.ms", "20000");
        p.put("heartbeat.interval.ms", "500");
        String assignor = a.getOrDefault("assignor", "range");
        p.put("partition.assignment.strategy", switch (assignor) {
            case "range" -> "org.apache.kafka.clients.consumer.RangeAssignor";
            case "cooperative-sticky" -> "org.apache.kafka.clients.consumer.CooperativeStickyAssignor";
            default -> throw new IllegalArgumentException("unknown assignor " + assignor);
        });
        int n = Integer.parseInt(a.get("count"));
        int got = 0;
        long deadline = System.currentTimeMillis() + 60_000;
        try (KafkaConsumer<String, String> c = new KafkaConsumer<>(p)) {
            c.subscribe(List.of(a.get("topic")));
            while (got < n && System.currentTimeMillis() < deadline) {
                ConsumerRecords<String, String> recs = c.poll(Duration.ofMillis(500));
                for (ConsumerRecord<String, String> r : recs) {
                    StringBuilder h = new StringBuilder("{");
                    for (Header hd : r.headers()) {
                        if (h.length() > 1) {
                            h.append(',');
                        }
                        h.append(q(hd.key())).append(':')
                                .append(q(new String(hd.value(), StandardCharsets.UTF_8)));
                    }
                    h.append('}');
                    System.out.println("{\"p\":" + r.partition() + ",\"o\":" + r.offset()
                            + ",\"k\":" + q(r.key()) + ",\"v\":" + q(r.value()) + ",\"h\":" + h + "}");
                    got++;
                }
                if (!recs.isEmpty()) {
                    c.commitSync();
                }
            }
        }
    }

    private static void admin(Map<String, String> a) throws Exception {
        Properties p = new Properties();
        p.put("bootstrap.servers", a.get("bootstrap"));
        p.put("client.id", "compat-java-admin");
        String topic = a.get("topic");
        String group = a.get("group");
        try (Admin ad = Admin.create(p)) {
            NewTopic nt = new NewTopic(topic, 3, (short) 1).configs(Map.of("retention.ms", "3600000"));
            ad.createTopics(List.of(nt)).all().get();
            out("created", topic);

            TopicDescription td = ad.describeTopics(List.of(topic)).allTopicNames().get().get(topic);
            out("partitions", Integer.toString(td.partitions().size()));

            ConfigResource res = new ConfigResource(ConfigResource.Type.TOPIC, topic);
            Config cfg = ad.describeConfigs(List.of(res)).all().get().get(res);
            out("retention.ms", cfg.get("retention.ms").value());
            out("cleanup.policy", cfg.get("cleanup.policy").value());

            AlterConfigOp op = new AlterConfigOp(new ConfigEntry("retention.ms", "7200000"), AlterConfigOp.OpType.SET);
            ad.incrementalAlterConfigs(Map.of(res, (Collection<AlterConfigOp>) List.of(op))).all().get();
            // Kafka applies an alter asynchronously (through its metadata
            // log): wait up to 10s for the new value to show.
            long until = System.currentTimeMillis() + 10_000;
            do {
                cfg = ad.describeConfigs(List.of(res)).all().get().get(res);
                if ("7200000".equals(cfg.get("retention.ms").value())) {
                    break;
                }
                Thread.sleep(100);
            } while (System.currentTimeMillis() < until);
            out("retention.ms.altered", cfg.get("retention.ms").value());

            ad.createPartitions(Map.of(topic, NewPartitions.increaseTo(4))).all().get();
            td = ad.describeTopics(List.of(topic)).allTopicNames().get().get(topic);
            out("partitions.increased", Integer.toString(td.partitions().size()));

            boolean listed = false;
            for (ConsumerGroupListing g : ad.listConsumerGroups().all().get()) {
                listed |= g.groupId().equals(group);
            }
            out("group.listed", Boolean.toString(listed));
            ConsumerGroupDescription gd = ad.describeConsumerGroups(List.of(group)).all().get().get(group);
            out("group.state", gd.groupState().toString());
            Map<TopicPartition, OffsetAndMetadata> offs =
                    ad.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata().get();
            for (Map.Entry<TopicPartition, OffsetAndMetadata> e : offs.entrySet()) {
                out("group.offset." + e.getKey().topic() + "." + e.getKey().partition(),
                        Long.toString(e.getValue().offset()));
            }

            ad.deleteTopics(List.of(topic)).all().get();
            Set<String> names = ad.listTopics().names().get();
            out("deleted", Boolean.toString(!names.contains(topic)));
        }
    }

    private static void txn(Map<String, String> a) {
        Properties cp = new Properties();
        cp.put("bootstrap.servers", a.get("bootstrap"));
        cp.put("client.id", "compat-java");
        cp.put("group.id", a.get("group"));
        cp.put("group.protocol", "classic");
        cp.put("key.deserializer", StringDeserializer.class.getName());
        cp.put("value.deserializer", StringDeserializer.class.getName());
        cp.put("auto.offset.reset", "earliest");
        cp.put("enable.auto.commit", "false");
        cp.put("isolation.level", "read_committed");
        cp.put("session.timeout.ms", "20000");
        cp.put("heartbeat.interval.ms", "500");
        Properties pp = new Properties();
        pp.put("bootstrap.servers", a.get("bootstrap"));
        pp.put("client.id", "compat-java-txn");
        pp.put("key.serializer", StringSerializer.class.getName());
        pp.put("value.serializer", StringSerializer.class.getName());
        pp.put("transactional.id", a.get("txn-id"));
        pp.put("transaction.timeout.ms", "30000");
        pp.put("linger.ms", "5");
        String out = a.get("out");
        int n = Integer.parseInt(a.get("count"));
        int aborted = Integer.parseInt(a.getOrDefault("aborted", "0"));
        int moved = 0;
        long deadline = System.currentTimeMillis() + 60_000;
        try (KafkaConsumer<String, String> c = new KafkaConsumer<>(cp);
                KafkaProducer<String, String> prod = new KafkaProducer<>(pp)) {
            prod.initTransactions();
            c.subscribe(List.of(a.get("topic")));
            while (moved < n && System.currentTimeMillis() < deadline) {
                ConsumerRecords<String, String> recs = c.poll(Duration.ofMillis(500));
                if (recs.isEmpty()) {
                    continue;
                }
                prod.beginTransaction();
                Map<TopicPartition, OffsetAndMetadata> offs = new HashMap<>();
                List<String> values = new ArrayList<>();
                for (ConsumerRecord<String, String> r : recs) {
                    prod.send(new ProducerRecord<>(out, r.key(), "java-txn:" + r.value()));
                    offs.put(new TopicPartition(r.topic(), r.partition()), new OffsetAndMetadata(r.offset() + 1));
                    values.add(r.value());
                }
                prod.sendOffsetsToTransaction(offs, c.groupMetadata());
                prod.commitTransaction();
                for (String v : values) {
                    out("moved", v);
                }
                moved += values.size();
            }
            prod.beginTransaction();
            for (int i = 0; i < aborted; i++) {
                prod.send(new ProducerRecord<>(out, "k", "java-aborted-" + i));
            }
            prod.flush();
            prod.abortTransaction();
            out("aborted", Integer.toString(aborted));
        }
    }

    private static void out(String key, String value) {
        System.out.println("{\"key\":" + q(key) + ",\"value\":" + q(value) + "}");
        System.out.flush();
    }

    /** q quotes s as a JSON string. */
    static String q(String s) {
        if (s == null) {
            return "null";
        }
        StringBuilder b = new StringBuilder("\"");
        for (char ch : s.toCharArray()) {
            switch (ch) {
                case '"' -> b.append("\\\"");
                case '\\' -> b.append("\\\\");
                default -> {
                    if (ch < 0x20) {
                        b.append(String.format("\\u%04x", (int) ch));
                    } else {
                        b.append(ch);
                    }
                }
            }
        }
        return b.append('"').toString();
    }
}
