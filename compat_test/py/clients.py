"""The Python clients' part of gregor's client matrix.

compat_test/python_test.go runs this script as a process, one library and one
mode per run, and checks what it prints: one JSON object per line on stdout.
The script checks nothing itself beyond the client calls succeeding; the Go test
holds the expectations, so they are the same for every client and both brokers.

    clients.py LIB MODE --bootstrap B --topic T [--group G] [--count N] [--ts MS...]

LIB is confluent (confluent-kafka, librdkafka) or kafkapython (kafka-python).
Modes:
  produce  idempotent producer (enable.idempotence=true set explicitly for
           librdkafka, whose default is off); record i has key k-(i%7), value
           LIB-i, headers idx=i and client=LIB; prints each delivery report.
  consume  group member that reads N records, commits synchronously, prints them.
  admin    creates T with 3 partitions, lists it, deletes it, lists again.
  times    offsets_for_times on partition 0 of T for each --ts value.
  txn      (confluent) transactional producer (transactional.id G): three
           transactions of N records each, committed, aborted, committed;
           record values c-i, a-i, d-i; prints each transaction's outcome.
  readc    (confluent) a read_committed consumer (no group) of every
           partition of T from the start to the end; prints the values.
  secure   over --security SSL|SASL_SSL|PLAINTEXT (--ca FILE, --cert FILE
           --key FILE for a client certificate, --mechanism
           PLAIN|SCRAM-SHA-512, --user, --password): writes N records (key
           k-(i%7), value LIB-i) to partition 0 of T, reads partition 0 back
           from the start (no group) and prints {"k","v"} of each; a client
           that cannot connect or log in prints one {"error": "auth"|"conn",
           "message": ...} line instead (and exits 0), within 30 seconds;
           an authentication or TLS failure is reported as soon as the
           client sees it, a connection that keeps failing otherwise after
           --refusal-wait seconds of retries (default 15).
  member848 (confluent) a KIP-848 group member (group.protocol=consumer) of
           group G subscribed to T, number --member M, until stdin closes;
           then it closes the consumer (leaving the group). Prints each record
           read {"m","p","o","k","v","h"}, committing synchronously after each
           batch, and each assignment change {"m","event": "assigned"|
           "revoked"|"lost","parts": [...]} as its rebalance callbacks see it.
"""

import argparse
import json
import sys
import time


def emit(obj):
    print(json.dumps(obj), flush=True)


def headers_dict(hs):
    return {k: (v.decode() if v is not None else None) for k, v in (hs or [])}


# --- confluent-kafka -------------------------------------------------------

def confluent(mode, a):
    if mode == "secure":
        return confluent_secure(a)
    if mode == "member848":
        return confluent_member848(a)
    import confluent_kafka as ck
    from confluent_kafka.admin import AdminClient, NewTopic

    base = {"bootstrap.servers": a.bootstrap, "client.id": "compat-confluent-py"}
    if mode == "produce":
        p = ck.Producer({**base, "enable.idempotence": True, "acks": "all",
                         "linger.ms": 5, "compression.type": a.compression})
        acks = {}

        def on_delivery(err, msg):
            if err is not None:
                raise SystemExit("delivery failed: %s" % err)
            acks[int(msg.value().decode().split("-")[1])] = (msg.partition(), msg.offset(),
                                                            msg.key().decode(), msg.value().decode())

        for i in range(a.count):
            p.produce(a.topic, key="k-%d" % (i % 7), value="confluent-%d" % i,
                      headers=[("idx", str(i)), ("client", "confluent")], on_delivery=on_delivery)
            p.poll(0)
        left = p.flush(30)
        if left:
            raise SystemExit("%d records not delivered" % left)
        for i in sorted(acks):
            part, off, k, v = acks[i]
            emit({"p": part, "o": off, "k": k, "v": v})
    elif mode == "consume":
        c = ck.Consumer({**base, "group.id": a.group, "auto.offset.reset": "earliest",
                         "enable.auto.commit": False, "session.timeout.ms": 20000,
                         "heartbeat.interval.ms": 500})
        c.subscribe([a.topic])
        got, deadline = 0, time.time() + 60
        while got < a.count and time.time() < deadline:
            msgs = c.consume(num_messages=a.count - got, timeout=0.5)
            good = []
            for m in msgs:
                if m.error():
                    if m.error().code() == ck.KafkaError._PARTITION_EOF:
                        continue
                    raise SystemExit("consume error: %s" % m.error())
                emit({"p": m.partition(), "o": m.offset(), "k": m.key().decode(),
                      "v": m.value().decode(), "h": headers_dict(m.headers())})
                good.append(m)
            if good:
                # One synchronous commit of this batch's positions.
                c.commit(asynchronous=False)
                got += len(good)
        c.close()
    elif mode == "admin":
        ad = AdminClient(base)
        for f in ad.create_topics([NewTopic(a.topic, 3, 1)], operation_timeout=10).values():
            f.result()
        emit({"key": "created", "value": a.topic})
        # Kafka propagates a new topic to its metadata cache asynchronously.
        deadline = time.time() + 10
        md = ad.list_topics(timeout=10)
        while a.topic not in md.topics and time.time() < deadline:
            time.sleep(0.2)
            md = ad.list_topics(timeout=10)
        parts = len(md.topics[a.topic].partitions) if a.topic in md.topics else None
        emit({"key": "partitions", "value": str(parts)})
        for f in ad.delete_topics([a.topic], operation_timeout=10).values():
            f.result()
        deadline = time.time() + 10
        while a.topic in ad.list_topics(timeout=10).topics and time.time() < deadline:
            time.sleep(0.2)
        emit({"key": "deleted", "value": str(a.topic not in ad.list_topics(timeout=10).topics).lower()})
    elif mode == "txn":
        p = ck.Producer({**base, "transactional.id": a.group, "transaction.timeout.ms": 60000,
                         "linger.ms": 5})
        p.init_transactions(30)
        for tag, commit in (("c", True), ("a", False), ("d", True)):
            p.begin_transaction()
            for i in range(a.count):
                p.produce(a.topic, key="k-%d" % (i % 3), value="%s-%d" % (tag, i))
                p.poll(0)
            if commit:
                p.commit_transaction(30)
            else:
                p.flush(30)  # the records reach the log before the abort
                p.abort_transaction(30)
            emit({"txn": tag, "committed": commit})
    elif mode == "readc":
        c = ck.Consumer({**base, "group.id": "compat-readc-unused", "isolation.level": "read_committed",
                         "enable.auto.commit": False, "enable.partition.eof": True})
        md = c.list_topics(a.topic, timeout=10)
        parts = sorted(md.topics[a.topic].partitions)
        c.assign([ck.TopicPartition(a.topic, q, ck.OFFSET_BEGINNING) for q in parts])
        eof, deadline = set(), time.time() + 60
        while len(eof) < len(parts) and time.time() < deadline:
            for m in c.consume(num_messages=100, timeout=0.5):
                if m.error():
                    if m.error().code() == ck.KafkaError._PARTITION_EOF:
                        eof.add(m.partition())
                        continue
                    raise SystemExit("consume error: %s" % m.error())
                emit({"p": m.partition(), "o": m.offset(), "v": m.value().decode()})
        if len(eof) < len(parts):
            raise SystemExit("read_committed: partitions %s not read to their end" % sorted(set(parts) - eof))
        c.close()
    elif mode == "times":
        c = ck.Consumer({**base, "group.id": "compat-times-unused"})
        tps = [ck.TopicPartition(a.topic, 0, ts) for ts in a.ts]
        for ts in a.ts:
            r = c.offsets_for_times([ck.TopicPartition(a.topic, 0, ts)], timeout=10)[0]
            if r.error:
                raise SystemExit("offsets_for_times: %s" % r.error)
            emit({"ts": ts, "offset": r.offset})
        del tps
        c.close()


def confluent_member848(a):
    import threading
    import confluent_kafka as ck

    stop = threading.Event()

    def watch():
        sys.stdin.read()
        stop.set()
    threading.Thread(target=watch, daemon=True).start()
    # session.timeout.ms, heartbeat.interval.ms and partition.assignment.strategy
    # are the broker's with group.protocol=consumer (librdkafka refuses them).
    c = ck.Consumer({"bootstrap.servers": a.bootstrap, "client.id": "compat-confluent-py-848-%d" % a.member,
                     "group.id": a.group, "group.protocol": "consumer",
                     "auto.offset.reset": "earliest", "enable.auto.commit": False,
                     "fetch.wait.max.ms": 100})

    def cb(event):
        def f(consumer, parts):
            emit({"m": a.member, "event": event, "parts": sorted(p.partition for p in parts)})
        return f
    c.subscribe([a.topic], on_assign=cb("assigned"), on_revoke=cb("revoked"), on_lost=cb("lost"))
    while not stop.is_set():
        good = []
        for m in c.consume(num_messages=100, timeout=0.2):
            if m.error():
                if m.error().code() == ck.KafkaError._PARTITION_EOF:
                    continue
                raise SystemExit("consume error: %s" % m.error())
            emit({"m": a.member, "p": m.partition(), "o": m.offset(), "k": m.key().decode(),
                  "v": m.value().decode(), "h": headers_dict(m.headers())})
            good.append(m)
        if good:
            try:
                c.commit(asynchronous=False)
            except ck.KafkaException as e:  # reported; the Go test counts re-reads
                emit({"m": a.member, "event": "commit_error", "parts": [], "error": str(e)})
    c.close()
    emit({"m": a.member, "event": "closed", "parts": []})


def confluent_secure(a):
    import confluent_kafka as ck
    from confluent_kafka.admin import AdminClient

    conf = {"bootstrap.servers": a.bootstrap, "client.id": "compat-confluent-py-sec",
            "security.protocol": a.security}
    if a.ca:
        conf["ssl.ca.location"] = a.ca
    if a.cert:
        conf.update({"ssl.certificate.location": a.cert, "ssl.key.location": a.key})
    if a.mechanism:
        conf.update({"sasl.mechanisms": a.mechanism, "sasl.username": a.user, "sasl.password": a.password})
    errs = []
    # The first connection: an authentication error comes as an error event,
    # served by poll.
    ad = AdminClient({**conf, "error_cb": errs.append})
    deadline, ok = time.time() + a.refusal_wait, False
    while not ok and time.time() < deadline:
        try:
            ad.list_topics(timeout=2)
            ok = True
        except ck.KafkaException as e:
            errs.append(e.args[0])
        ad.poll(0.2)
        auth = [e for e in errs if e.code() == ck.KafkaError._AUTHENTICATION]
        if auth:
            emit({"error": "auth", "message": "%s: %s" % (auth[0].name(), auth[0].str())})
            return
        tls = [e for e in errs if e.code() == ck.KafkaError._SSL]
        if tls:  # a failed TLS handshake is final: no retry will pass it
            emit({"error": "conn", "message": "%s: %s" % (tls[0].name(), tls[0].str())})
            return
    if not ok:
        e = errs[-1]
        emit({"error": "conn", "message": "%s: %s" % (e.name(), e.str())})
        return
    p = ck.Producer({**conf, "acks": "all", "linger.ms": 5})
    failed = []
    for i in range(a.count):
        p.produce(a.topic, partition=0, key="k-%d" % (i % 7), value="confluent-%d" % i,
                  on_delivery=lambda err, msg: err and failed.append(err))
    if p.flush(30) or failed:
        raise SystemExit("not delivered: %s" % failed[:3])
    c = ck.Consumer({**conf, "group.id": "compat-secure-unused", "enable.auto.commit": False})
    c.assign([ck.TopicPartition(a.topic, 0, ck.OFFSET_BEGINNING)])
    got, deadline = 0, time.time() + 30
    while got < a.count and time.time() < deadline:
        for m in c.consume(num_messages=a.count - got, timeout=0.5):
            if m.error():
                raise SystemExit("consume error: %s" % m.error())
            emit({"k": m.key().decode(), "v": m.value().decode()})
            got += 1
    c.close()


# --- kafka-python ----------------------------------------------------------

def kafkapython_secure(a):
    import kafka
    import kafka.errors as ke
    from kafka import TopicPartition

    base = {"bootstrap_servers": a.bootstrap, "client_id": "compat-kafka-python-sec",
            "security_protocol": a.security}
    if a.ca:
        base["ssl_cafile"] = a.ca
    if a.cert:
        base.update({"ssl_certfile": a.cert, "ssl_keyfile": a.key})
    if a.mechanism:
        base.update({"sasl_mechanism": a.mechanism, "sasl_plain_username": a.user,
                     "sasl_plain_password": a.password})
    # kafka-python retries a failed bootstrap until bootstrap_timeout_ms and
    # then raises a timeout; the cause (an authentication failure) is in its
    # log. When the broker's answer to SaslAuthenticate and its close of the
    # connection arrive in one read, kafka-python drops the answer and logs
    # only a closed connection (Kafka and gregor both close after a failed
    # authentication): a SaslAuthenticate request left unanswered by a close
    # is the broker refusing the credentials. A wrong port or a TLS mismatch
    # never gets as far as sending one.
    import logging
    seen = []
    pending = [False]

    class Keep(logging.Handler):
        def emit(self, r):
            m = r.getMessage()
            if "SaslAuthenticate" in m and " Request " in m:
                pending[0] = True
            elif "SaslAuthenticate" in m and " Response " in m:
                pending[0] = False
            elif pending[0] and ("Connection closed" in m or "Connection lost" in m):
                pending[0] = False
                seen.append("connection closed by the broker in answer to SaslAuthenticate: " + m)
            if r.levelno >= logging.INFO:
                seen.append(m)
    logging.getLogger("kafka").addHandler(Keep())
    logging.getLogger("kafka").setLevel(logging.DEBUG)
    # The producer bootstraps in a thread: an authentication failure in the
    # log is final, reported at once rather than after the bootstrap timeout.
    import os
    import threading
    made = {}

    def make():
        try:
            made["p"] = kafka.KafkaProducer(**base, acks="all", linger_ms=5, max_block_ms=20000,
                                            bootstrap_timeout_ms=int(a.refusal_wait * 1000))
        except Exception as e:  # reported below
            made["e"] = e
    th = threading.Thread(target=make, daemon=True)
    th.start()

    def auth_seen():
        return [m for m in list(seen) if "SaslAuthenticationFailed" in m or "Authentication failed" in m
                or m.startswith("connection closed by the broker in answer to SaslAuthenticate")]
    while th.is_alive():
        th.join(0.05)
        if th.is_alive() and auth_seen():
            emit({"error": "auth", "message": auth_seen()[0]})
            os._exit(0)
    e = made.get("e")
    if e is not None:
        auth = auth_seen()
        if isinstance(e, ke.SaslAuthenticationFailedError) or auth:
            emit({"error": "auth", "message": auth[0] if auth else str(e)})
        elif isinstance(e, ke.KafkaError):
            emit({"error": "conn", "message": "%s: %s" % (type(e).__name__, e)})
        else:
            raise e
        return
    p = made["p"]
    futs = [p.send(a.topic, partition=0, key=b"k-%d" % (i % 7), value=b"kafkapython-%d" % i)
            for i in range(a.count)]
    p.flush(30)
    for f in futs:
        f.get(timeout=30)
    p.close()
    c = kafka.KafkaConsumer(**base)
    tp = TopicPartition(a.topic, 0)
    c.assign([tp])
    c.seek_to_beginning(tp)
    got, deadline = 0, time.time() + 30
    while got < a.count and time.time() < deadline:
        for recs in c.poll(timeout_ms=500).values():
            for m in recs:
                emit({"k": m.key.decode(), "v": m.value.decode()})
                got += 1
    c.close()


def kafkapython(mode, a):
    if mode == "secure":
        return kafkapython_secure(a)
    import kafka
    from kafka import TopicPartition
    from kafka.admin import KafkaAdminClient, NewTopic

    base = {"bootstrap_servers": a.bootstrap, "client_id": "compat-kafka-python"}
    if mode == "produce":
        comp = None if a.compression == "none" else a.compression
        p = kafka.KafkaProducer(**base, acks="all", linger_ms=5, compression_type=comp,
                                enable_idempotence=True)
        futs = []
        for i in range(a.count):
            futs.append((i, p.send(a.topic, key=b"k-%d" % (i % 7), value=b"kafkapython-%d" % i,
                                   headers=[("idx", str(i).encode()), ("client", b"kafkapython")])))
        p.flush(30)
        for i, f in futs:
            md = f.get(timeout=30)
            emit({"p": md.partition, "o": md.offset, "k": "k-%d" % (i % 7), "v": "kafkapython-%d" % i})
        p.close()
    elif mode == "consume":
        c = kafka.KafkaConsumer(a.topic, **base, group_id=a.group, auto_offset_reset="earliest",
                                enable_auto_commit=False, session_timeout_ms=20000,
                                heartbeat_interval_ms=500)
        got, deadline = 0, time.time() + 60
        while got < a.count and time.time() < deadline:
            batch = c.poll(timeout_ms=500)
            for recs in batch.values():
                for m in recs:
                    emit({"p": m.partition, "o": m.offset, "k": m.key.decode(),
                          "v": m.value.decode(), "h": headers_dict(m.headers)})
                    got += 1
            if batch:
                c.commit()
        c.close()
    elif mode == "admin":
        ad = KafkaAdminClient(**base)
        ad.create_topics([NewTopic(a.topic, 3, 1)])
        emit({"key": "created", "value": a.topic})
        deadline = time.time() + 10
        parts = None
        while time.time() < deadline:
            desc = ad.describe_topics([a.topic])
            if desc and desc[0].get("error_code", 0) == 0 and desc[0]["partitions"]:
                parts = len(desc[0]["partitions"])
                break
            time.sleep(0.2)
        emit({"key": "partitions", "value": str(parts)})
        ad.delete_topics([a.topic])
        deadline = time.time() + 10
        while a.topic in ad.list_topics() and time.time() < deadline:
            time.sleep(0.2)
        emit({"key": "deleted", "value": str(a.topic not in ad.list_topics()).lower()})
        ad.close()
    elif mode == "times":
        c = kafka.KafkaConsumer(**base)
        tp = TopicPartition(a.topic, 0)
        for ts in a.ts:
            r = c.offsets_for_times({tp: ts})[tp]
            emit({"ts": ts, "offset": -1 if r is None else r.offset})
        c.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("lib", choices=["confluent", "kafkapython"])
    ap.add_argument("mode", choices=["produce", "consume", "admin", "times", "txn", "readc", "secure",
                                   "member848"])
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--topic", required=True)
    ap.add_argument("--group", default="")
    ap.add_argument("--count", type=int, default=0)
    ap.add_argument("--compression", default="none")
    ap.add_argument("--ts", type=int, nargs="*", default=[])
    ap.add_argument("--security", default="PLAINTEXT")
    ap.add_argument("--ca", default="")
    ap.add_argument("--mechanism", default="")
    ap.add_argument("--user", default="")
    ap.add_argument("--password", default="")
    ap.add_argument("--refusal-wait", type=float, default=15)
    ap.add_argument("--cert", default="")  # client certificate (PEM) and its key
    ap.add_argument("--key", default="")
    ap.add_argument("--member", type=int, default=0)
    a = ap.parse_args()
    {"confluent": confluent, "kafkapython": kafkapython}[a.lib](a.mode, a)


if __name__ == "__main__":
    sys.exit(main())
