package gregor.compat;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.ConsumerGroupDescription;
import org.apache.kafka.clients.admin.MemberDescription;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.consumer.SubscriptionPattern;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * KIP-848 (group.protocol=consumer) scenarios of gregor's client matrix, run by
 * compat_test/kip848_test.go as a process; like Main it prints one JSON object
 * per line and leaves the expectations to the Go test.
 *
 * Modes:
 *   rebalance --bootstrap B --topic T --group G --count N --assignor uniform|range
 *       N records produced (values v-0 … v-(N-1)) while the group changes: members
 *       0 and 1 start, member 2 joins, member 0 leaves, member 3 joins; each
 *       member commits after every poll and when partitions are revoked. Prints
 *       every record read ({"m":member,"p","o","v"}) and finally the group as
 *       the admin client describes it.
 *   roll --bootstrap B --topic T --group G --count N --classic-assignor range|cooperative-sticky [--back true]
 *       online migration: N records produced while a group of three classic
 *       consumers (group.protocol=classic) is rolled, one member at a time, to
 *       group.protocol=consumer (members 3, 4, 5 replace 0, 1, 2); with --back,
 *       it is then rolled back to classic members (6, 7, 8 replace 3, 4, 5).
 *       Prints what rebalance prints.
 *   rack --bootstrap B --topic T --group G --racks R0,R1 --partitions P
 *       KIP-881: one classic consumer per rack (client.rack Ri, the range
 *       assignor) in group G; once the P partitions are assigned and stay so
 *       for two seconds, prints each member's {"m":i,"rack":Ri,"parts":[...]}.
 *   static --bootstrap B --topic T --group G
 *       a static member (group.instance.id) reads its assignment, closes (a
 *       temporary leave), and a new consumer with the same instance id takes
 *       its place; prints both assignments and the group epochs around it.
 *   regex --bootstrap B --pattern P --group G --count N
 *       subscribes to the broker-side regular expression P (SubscriptionPattern)
 *       and prints every record read until N.
 *   hold --bootstrap B --topic T --group G --count N
 *       reads N records, commits, prints {"ready":...} and keeps its membership
 *       (polling) until stdin closes.
 *   txn --bootstrap B --topic IN --out OUT --group G --txn-id X --count N
 *       exactly-once read-process-write across a rebalance: worker 0 starts,
 *       worker 1 (transactional.id X-1) joins the group after the first
 *       transactions; each commits its consumed offsets with
 *       sendOffsetsToTransaction, one transaction per poll, until N records
 *       moved in all. Prints each moved value.
 */
public final class Kip848 {
    private Kip848() {}

    public static void main(String[] argv) throws Exception {
        Map<String, String> a = new HashMap<>();
        for (int i = 1; i + 1 < argv.length; i += 2) {
            a.put(argv[i].replaceFirst("^--", ""), argv[i + 1]);
        }
        switch (argv[0]) {
            case "rebalance" -> rebalance(a);
            case "roll" -> roll(a);
            case "rack" -> rack(a);
            case "static" -> staticMember(a);
            case "regex" -> regex(a);
            case "hold" -> hold(a);
            case "txn" -> txn(a);
            default -> throw new IllegalArgumentException("unknown mode " + argv[0]);
        }
    }

    private static Properties consumerProps(Map<String, String> a, String clientId) {
        Properties p = new Properties();
        p.put("bootstrap.servers", a.get("bootstrap"));
        p.put("client.id", clientId);
        p.put("group.id", a.get("group"));
        p.put("group.protocol", "consumer");
        p.put("group.remote.assignor", a.getOrDefault("assignor", "uniform"));
        p.put("key.deserializer", StringDeserializer.class.getName());
        p.put("value.deserializer", StringDeserializer.class.getName());
        p.put("auto.offset.reset", "earliest");
        p.put("enable.auto.commit", "false");
        return p;
    }

    private static synchronized void print(String s) {
        System.out.println(s);
        System.out.flush();
    }

    private static void printRecord(int member, ConsumerRecord<String, String> r) {
        print("{\"m\":" + member + ",\"p\":" + r.partition() + ",\"o\":" + r.offset() + ",\"v\":" + q(r.value()) + "}");
    }

    /** A member of the rebalance scenario, reading on its own thread until stopped. */
    private static final class Member implements Runnable {
        final int idx;
        final Properties props;
        final String topic;
        final AtomicBoolean stop = new AtomicBoolean();
        final AtomicInteger read;
        final Thread thread;
        volatile Throwable failure;
        // tolerant: a commit refused because a rebalance runs (a classic
        // member's RebalanceInProgressException or CommitFailedException)
        // is printed, not fatal: its records are read again by the next
        // owner, as with Kafka.
        boolean tolerant;

        Member(int idx, Properties props, String topic, AtomicInteger read) {
            this.idx = idx;
            this.props = props;
            this.topic = topic;
            this.read = read;
            this.thread = new Thread(this, "member-" + idx);
        }

        void commit(KafkaConsumer<String, String> c) {
            try {
                c.commitSync();
            } catch (org.apache.kafka.common.errors.RebalanceInProgressException
                     | org.apache.kafka.clients.consumer.CommitFailedException e) {
                if (!tolerant) {
                    throw e;
                }
                print("{\"event\":\"commit-refused\",\"m\":" + idx + ",\"error\":" + q(e.getClass().getSimpleName()) + "}");
            }
        }

        @Override
        public void run() {
            try (KafkaConsumer<String, String> c = new KafkaConsumer<>(props)) {
                c.subscribe(List.of(topic), new ConsumerRebalanceListener() {
                    @Override
                    public void onPartitionsRevoked(Collection<TopicPartition> parts) {
                        commit(c);
                        print("{\"event\":\"revoked\",\"m\":" + idx + ",\"n\":" + parts.size() + "}");
                    }

                    @Override
                    public void onPartitionsAssigned(Collection<TopicPartition> parts) {
                        print("{\"event\":\"assigned\",\"m\":" + idx + ",\"n\":" + parts.size() + "}");
                    }
                });
                while (!stop.get()) {
                    ConsumerRecords<String, String> recs = c.poll(Duration.ofMillis(200));
                    for (ConsumerRecord<String, String> r : recs) {
                        printRecord(idx, r);
                        read.incrementAndGet();
                    }
                    if (!recs.isEmpty()) {
                        commit(c);
                    }
                }
            } catch (Throwable t) {
                failure = t;
                print("{\"event\":\"failed\",\"m\":" + idx + ",\"error\":" + q(t.toString()) + "}");
            }
        }
    }

    private static void rebalance(Map<String, String> a) throws Exception {
        String topic = a.get("topic");
        int n = Integer.parseInt(a.get("count"));
        AtomicInteger read = new AtomicInteger();
        List<Member> members = new ArrayList<>();
        for (int i = 0; i < 4; i++) {
            members.add(new Member(i, consumerProps(a, "compat-java-848-" + i), topic, read));
        }
        Properties pp = new Properties();
        pp.put("bootstrap.servers", a.get("bootstrap"));
        pp.put("client.id", "compat-java-848-producer");
        pp.put("key.serializer", StringSerializer.class.getName());
        pp.put("value.serializer", StringSerializer.class.getName());
        pp.put("linger.ms", "5");
        members.get(0).thread.start();
        members.get(1).thread.start();
        long deadline = System.currentTimeMillis() + 75_000;
        try (KafkaProducer<String, String> prod = new KafkaProducer<>(pp)) {
            for (int i = 0; i < n; i++) {
                prod.send(new ProducerRecord<>(topic, "k-" + i, "v-" + i)).get();
                if (i == n / 4) {
                    members.get(2).thread.start();
                } else if (i == n / 2) {
                    members.get(0).stop.set(true);
                    members.get(0).thread.join();
                } else if (i == 3 * n / 4) {
                    members.get(3).thread.start();
                }
                Thread.sleep(2);
            }
        }
        while (read.get() < n && System.currentTimeMillis() < deadline) {
            Thread.sleep(100);
        }
        // Let the members settle so the group is described Stable.
        Thread.sleep(1500);
        try (Admin ad = Admin.create(adminProps(a))) {
            ConsumerGroupDescription d = ad.describeConsumerGroups(List.of(a.get("group"))).all().get().get(a.get("group"));
            print("{\"key\":\"type\",\"value\":" + q(d.type().toString()) + "}");
            print("{\"key\":\"state\",\"value\":" + q(d.groupState().toString()) + "}");
            print("{\"key\":\"members\",\"value\":\"" + d.members().size() + "\"}");
            int assigned = 0;
            for (MemberDescription m : d.members()) {
                assigned += m.assignment().topicPartitions().size();
            }
            print("{\"key\":\"assigned\",\"value\":\"" + assigned + "\"}");
        }
        for (Member m : members) {
            m.stop.set(true);
        }
        for (Member m : members) {
            if (m.thread.isAlive() || m.thread.getState() != Thread.State.NEW) {
                m.thread.join();
            }
        }
        for (Member m : members) {
            if (m.failure != null) {
                throw new RuntimeException("member " + m.idx + " failed", m.failure);
            }
        }
    }

    private static Properties classicProps(Map<String, String> a, String clientId) {
        Properties p = consumerProps(a, clientId);
        p.put("group.protocol", "classic");
        p.remove("group.remote.assignor");
        String strategy = switch (a.getOrDefault("classic-assignor", "cooperative-sticky")) {
            case "range" -> "org.apache.kafka.clients.consumer.RangeAssignor";
            default -> "org.apache.kafka.clients.consumer.CooperativeStickyAssignor";
        };
        p.put("partition.assignment.strategy", strategy);
        p.put("heartbeat.interval.ms", "500");
        return p;
    }

    private static void rack(Map<String, String> a) throws Exception {
        String topic = a.get("topic");
        String[] racks = a.get("racks").split(",");
        int want = Integer.parseInt(a.get("partitions"));
        List<KafkaConsumer<String, String>> cs = new ArrayList<>();
        try {
            for (int i = 0; i < racks.length; i++) {
                Properties p = classicProps(a, "compat-java-881-" + i);
                p.put("partition.assignment.strategy", "org.apache.kafka.clients.consumer.RangeAssignor");
                p.put("client.rack", racks[i]);
                KafkaConsumer<String, String> c = new KafkaConsumer<>(p);
                c.subscribe(List.of(topic));
                cs.add(c);
            }
            long deadline = System.currentTimeMillis() + 60_000;
            String last = "";
            long since = System.currentTimeMillis();
            while (System.currentTimeMillis() < deadline) {
                StringBuilder now = new StringBuilder();
                int total = 0;
                for (KafkaConsumer<String, String> c : cs) {
                    c.poll(Duration.ofMillis(100));
                    TreeSet<Integer> ps = new TreeSet<>();
                    for (TopicPartition tp : c.assignment()) {
                        ps.add(tp.partition());
                    }
                    total += ps.size();
                    now.append(ps).append(';');
                }
                if (!now.toString().equals(last)) {
                    last = now.toString();
                    since = System.currentTimeMillis();
                } else if (total == want && System.currentTimeMillis() - since > 2000) {
                    break;
                }
            }
            for (int i = 0; i < cs.size(); i++) {
                TreeSet<Integer> ps = new TreeSet<>();
                for (TopicPartition tp : cs.get(i).assignment()) {
                    ps.add(tp.partition());
                }
                print("{\"m\":" + i + ",\"rack\":" + q(racks[i]) + ",\"parts\":" + ps + "}");
            }
        } finally {
            for (KafkaConsumer<String, String> c : cs) {
                c.close(Duration.ofSeconds(5));
            }
        }
    }

    private static void roll(Map<String, String> a) throws Exception {
        String topic = a.get("topic");
        int n = Integer.parseInt(a.get("count"));
        boolean back = Boolean.parseBoolean(a.getOrDefault("back", "false"));
        AtomicInteger read = new AtomicInteger();
        List<Member> members = new ArrayList<>();
        for (int i = 0; i < 9; i++) {
            boolean classic = i < 3 || i >= 6;
            String id = "compat-java-848-roll-" + i;
            Member m = new Member(i, classic ? classicProps(a, id) : consumerProps(a, id), topic, read);
            m.tolerant = true;
            members.add(m);
        }
        Properties pp = new Properties();
        pp.put("bootstrap.servers", a.get("bootstrap"));
        pp.put("client.id", "compat-java-848-producer");
        pp.put("key.serializer", StringSerializer.class.getName());
        pp.put("value.serializer", StringSerializer.class.getName());
        pp.put("linger.ms", "5");
        for (int i = 0; i < 3; i++) {
            members.get(i).thread.start();
        }
        int steps = back ? 6 : 3;
        long deadline = System.currentTimeMillis() + 100_000;
        try (KafkaProducer<String, String> prod = new KafkaProducer<>(pp)) {
            int step = 0;
            for (int i = 0; i < n; i++) {
                prod.send(new ProducerRecord<>(topic, "k-" + i, "v-" + i)).get();
                if (step < steps && i == (step + 1) * n / (steps + 1)) {
                    // Member step leaves, member step+3 takes its place.
                    members.get(step).stop.set(true);
                    members.get(step).thread.join();
                    members.get(step + 3).thread.start();
                    print("{\"event\":\"rolled\",\"m\":" + step + ",\"by\":" + (step + 3) + "}");
                    step++;
                }
                Thread.sleep(2);
            }
        }
        while (read.get() < n && System.currentTimeMillis() < deadline) {
            Thread.sleep(100);
        }
        Thread.sleep(3000);
        try (Admin ad = Admin.create(adminProps(a))) {
            ConsumerGroupDescription d = ad.describeConsumerGroups(List.of(a.get("group"))).all().get().get(a.get("group"));
            print("{\"key\":\"type\",\"value\":" + q(d.type().toString()) + "}");
            print("{\"key\":\"state\",\"value\":" + q(d.groupState().toString()) + "}");
            print("{\"key\":\"members\",\"value\":\"" + d.members().size() + "\"}");
            int assigned = 0;
            for (MemberDescription m : d.members()) {
                assigned += m.assignment().topicPartitions().size();
            }
            print("{\"key\":\"assigned\",\"value\":\"" + assigned + "\"}");
        }
        for (Member m : members) {
            m.stop.set(true);
        }
        for (Member m : members) {
            if (m.thread.getState() != Thread.State.NEW) {
                m.thread.join();
            }
        }
        for (Member m : members) {
            if (m.failure != null) {
                throw new RuntimeException("member " + m.idx + " failed", m.failure);
            }
        }
    }

    private static Properties adminProps(Map<String, String> a) {
        Properties p = new Properties();
        p.put("bootstrap.servers", a.get("bootstrap"));
        p.put("client.id", "compat-java-848-admin");
        return p;
    }

    private static String parts(KafkaConsumer<String, String> c, String topic) throws InterruptedException {
        long deadline = System.currentTimeMillis() + 30_000;
        while (c.assignment().isEmpty() && System.currentTimeMillis() < deadline) {
            c.poll(Duration.ofMillis(200));
        }
        TreeSet<Integer> ps = new TreeSet<>();
        for (TopicPartition tp : c.assignment()) {
            ps.add(tp.partition());
        }
        return ps.toString();
    }

    private static int groupEpoch(Admin ad, String group) throws Exception {
        ConsumerGroupDescription d = ad.describeConsumerGroups(List.of(group)).all().get().get(group);
        return d.groupEpoch().orElse(-1);
    }

    private static void staticMember(Map<String, String> a) throws Exception {
        String topic = a.get("topic");
        String group = a.get("group");
        Properties p0 = consumerProps(a, "compat-java-848-s0");
        p0.put("group.instance.id", "static-0");
        Properties p1 = consumerProps(a, "compat-java-848-s1");
        p1.put("group.instance.id", "static-1");
        try (Admin ad = Admin.create(adminProps(a));
                KafkaConsumer<String, String> other = new KafkaConsumer<>(p1)) {
            other.subscribe(List.of(topic));
            String first;
            try (KafkaConsumer<String, String> c = new KafkaConsumer<>(p0)) {
                c.subscribe(List.of(topic));
                // Both members in, the assignment settled.
                long deadline = System.currentTimeMillis() + 30_000;
                while (System.currentTimeMillis() < deadline
                        && (c.assignment().isEmpty() || other.assignment().isEmpty()
                            || c.assignment().size() + other.assignment().size() != 4)) {
                    c.poll(Duration.ofMillis(100));
                    other.poll(Duration.ofMillis(100));
                }
                first = parts(c, topic);
                print("{\"key\":\"first\",\"value\":" + q(first) + "}");
                print("{\"key\":\"epoch.before\",\"value\":\"" + groupEpoch(ad, group) + "\"}");
            }
            other.poll(Duration.ofMillis(300));
            print("{\"key\":\"epoch.left\",\"value\":\"" + groupEpoch(ad, group) + "\"}");
            try (KafkaConsumer<String, String> c = new KafkaConsumer<>(p0)) {
                c.subscribe(List.of(topic));
                String second = parts(c, topic);
                print("{\"key\":\"second\",\"value\":" + q(second) + "}");
                print("{\"key\":\"epoch.after\",\"value\":\"" + groupEpoch(ad, group) + "\"}");
            }
        }
    }

    private static void regex(Map<String, String> a) {
        int n = Integer.parseInt(a.get("count"));
        int got = 0;
        long deadline = System.currentTimeMillis() + 60_000;
        try (KafkaConsumer<String, String> c = new KafkaConsumer<>(consumerProps(a, "compat-java-848-re"))) {
            c.subscribe(new SubscriptionPattern(a.get("pattern")));
            while (got < n && System.currentTimeMillis() < deadline) {
                ConsumerRecords<String, String> recs = c.poll(Duration.ofMillis(300));
                for (ConsumerRecord<String, String> r : recs) {
                    print("{\"t\":" + q(r.topic()) + ",\"p\":" + r.partition() + ",\"o\":" + r.offset() + ",\"v\":" + q(r.value()) + "}");
                    got++;
                }
                if (!recs.isEmpty()) {
                    c.commitSync();
                }
            }
        }
    }

    private static void hold(Map<String, String> a) throws Exception {
        int n = Integer.parseInt(a.get("count"));
        int got = 0;
        long deadline = System.currentTimeMillis() + 60_000;
        AtomicBoolean closed = new AtomicBoolean();
        Thread stdin = new Thread(() -> {
            try {
                while (System.in.read() >= 0) {
                    // wait for EOF
                }
            } catch (Exception e) {
                // closed
            }
            closed.set(true);
        });
        stdin.setDaemon(true);
        stdin.start();
        try (KafkaConsumer<String, String> c = new KafkaConsumer<>(consumerProps(a, "compat-java-848-hold"))) {
            c.subscribe(List.of(a.get("topic")));
            while (got < n && System.currentTimeMillis() < deadline) {
                ConsumerRecords<String, String> recs = c.poll(Duration.ofMillis(300));
                got += recs.count();
                if (!recs.isEmpty()) {
                    c.commitSync();
                }
            }
            print("{\"ready\":" + got + "}");
            long end = System.currentTimeMillis() + 120_000;
            while (!closed.get() && System.currentTimeMillis() < end) {
                c.poll(Duration.ofMillis(200));
            }
        }
    }

    private static void txn(Map<String, String> a) throws Exception {
        int n = Integer.parseInt(a.get("count"));
        AtomicInteger moved = new AtomicInteger();
        AtomicBoolean stop = new AtomicBoolean();
        Map<Integer, Throwable> failures = new ConcurrentHashMap<>();
        List<Thread> workers = new ArrayList<>();
        for (int w = 0; w < 2; w++) {
            final int idx = w;
            workers.add(new Thread(() -> {
                try {
                    txnWorker(a, idx, moved, n, stop);
                } catch (Throwable t) {
                    failures.put(idx, t);
                    print("{\"event\":\"failed\",\"m\":" + idx + ",\"error\":" + q(t.toString()) + "}");
                }
            }));
        }
        workers.get(0).start();
        long deadline = System.currentTimeMillis() + 75_000;
        while (moved.get() < n / 3 && System.currentTimeMillis() < deadline) {
            Thread.sleep(20);
        }
        workers.get(1).start();
        while (moved.get() < n && System.currentTimeMillis() < deadline && failures.isEmpty()) {
            Thread.sleep(50);
        }
        stop.set(true);
        for (Thread t : workers) {
            t.join();
        }
        if (!failures.isEmpty()) {
            throw new RuntimeException("worker failed", failures.values().iterator().next());
        }
    }

    private static void txnWorker(Map<String, String> a, int idx, AtomicInteger moved, int n, AtomicBoolean stop) {
        Properties cp = consumerProps(a, "compat-java-848-txn-" + idx);
        cp.put("isolation.level", "read_committed");
        Properties pp = new Properties();
        pp.put("bootstrap.servers", a.get("bootstrap"));
        pp.put("client.id", "compat-java-848-txn-p" + idx);
        pp.put("key.serializer", StringSerializer.class.getName());
        pp.put("value.serializer", StringSerializer.class.getName());
        pp.put("transactional.id", a.get("txn-id") + "-" + idx);
        pp.put("transaction.timeout.ms", "30000");
        pp.put("linger.ms", "5");
        String out = a.get("out");
        try (KafkaConsumer<String, String> c = new KafkaConsumer<>(cp);
                KafkaProducer<String, String> prod = new KafkaProducer<>(pp)) {
            prod.initTransactions();
            c.subscribe(List.of(a.get("topic")));
            while (!stop.get() && moved.get() < n) {
                ConsumerRecords<String, String> recs = c.poll(Duration.ofMillis(200));
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
                try {
                    prod.sendOffsetsToTransaction(offs, c.groupMetadata());
                    prod.commitTransaction();
                } catch (org.apache.kafka.common.errors.ProducerFencedException e) {
                    throw e;
                } catch (org.apache.kafka.common.KafkaException e) {
                    // A rebalance fenced this generation's commit: abort, and
                    // read again from the committed offsets.
                    print("{\"event\":\"aborted\",\"m\":" + idx + ",\"error\":" + q(e.toString()) + "}");
                    prod.abortTransaction();
                    for (TopicPartition tp : c.assignment()) {
                        OffsetAndMetadata om = c.committed(java.util.Set.of(tp)).get(tp);
                        c.seek(tp, om == null ? 0 : om.offset());
                    }
                    continue;
                }
                for (String v : values) {
                    print("{\"key\":\"moved\",\"value\":" + q(v) + ",\"m\":" + idx + "}");
                }
                moved.addAndGet(values.size());
            }
        }
    }

    /** q quotes s as a JSON string. */
    private static String q(String s) {
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
