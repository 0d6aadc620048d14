// The kafkajs part of gregor's client matrix. compat_test/kafkajs_test.go runs
// it as a process, one mode per run, and checks what it prints: one JSON
// object per line on stdout. The Go test holds the expectations.
//
//   node kafkajs.js produce --bootstrap B --topic T --count N
//       record i: key k-(i%7), value kafkajs-i, headers idx=i, client=kafkajs;
//       idempotent producer (acks=all, one request in flight, as kafkajs requires)
//   node kafkajs.js consume --bootstrap B --topic T --group G --count N
//       group member; commits each record's offset; prints each record
//   node kafkajs.js admin --bootstrap B --topic T --group G --otopic O
//       create T (3 partitions), describe it, fetch G's offsets in O, delete T
//   node kafkajs.js secure --bootstrap B --topic T --count N --security SSL|SASL_SSL|PLAINTEXT
//          [--ca FILE] [--cert FILE --key FILE] [--mechanism PLAIN|SCRAM-SHA-512 --user U --password P]
//       writes N records (key k-(i%7), value kafkajs-i) to partition 0 of T,
//       reads them back in a fresh group from the start, prints {k, v} of
//       each; a client that cannot connect or log in prints one
//       {error: 'auth'|'conn', message} line instead (auth: a SASL
//       authentication failure), within 30 seconds
'use strict'

const { Kafka, logLevel, CompressionTypes } = require('kafkajs')

function parse (argv) {
  const a = { mode: argv[0] }
  for (let i = 1; i + 1 < argv.length; i += 2) a[argv[i].replace(/^--/, '')] = argv[i + 1]
  return a
}

function emit (o) { process.stdout.write(JSON.stringify(o) + '\n') }

async function secure (a) {
  const fs = require('fs')
  const conf = {
    clientId: 'compat-kafkajs-sec',
    brokers: [a.bootstrap],
    logLevel: logLevel.NOTHING,
    connectionTimeout: 5000,
    authenticationTimeout: 10000,
    requestTimeout: 10000,
    retry: { retries: 2, initialRetryTime: 200 }
  }
  if (a.security === 'SSL' || a.security === 'SASL_SSL') {
    conf.ssl = { ca: [fs.readFileSync(a.ca)], servername: 'localhost' }
    if (a.cert) { // a client certificate and its key (PEM)
      conf.ssl.cert = fs.readFileSync(a.cert)
      conf.ssl.key = fs.readFileSync(a.key)
    }
  }
  if (a.mechanism) {
    conf.sasl = { mechanism: a.mechanism.toLowerCase(), username: a.user, password: a.password }
  }
  const kafka = new Kafka(conf)
  const p = kafka.producer()
  try {
    await p.connect()
  } catch (e) {
    const auth = e.name === 'KafkaJSSASLAuthenticationError' ||
      (e.cause && e.cause.name === 'KafkaJSSASLAuthenticationError')
    emit({ error: auth ? 'auth' : 'conn', message: `${e.name}: ${e.message}` })
    return
  }
  const n = Number(a.count)
  const messages = []
  for (let i = 0; i < n; i++) messages.push({ key: `k-${i % 7}`, value: `kafkajs-${i}`, partition: 0 })
  await p.send({ topic: a.topic, acks: -1, messages })
  await p.disconnect()
  const c = kafka.consumer({ groupId: `compat-kafkajs-sec-${process.pid}-${Date.now()}`, maxWaitTimeInMs: 200 })
  await c.connect()
  await c.subscribe({ topic: a.topic, fromBeginning: true })
  await new Promise((resolve, reject) => {
    let got = 0
    const timer = setTimeout(() => reject(new Error(`read ${got} of ${n} records within 30s`)), 30000)
    c.run({
      autoCommit: false,
      eachMessage: async ({ message }) => {
        emit({ k: message.key.toString(), v: message.value.toString() })
        if (++got >= n) { clearTimeout(timer); resolve() }
      }
    }).catch(reject)
  })
  await c.disconnect()
}

async function main () {
  const a = parse(process.argv.slice(2))
  if (a.mode === 'secure') return secure(a)
  const kafka = new Kafka({
    clientId: 'compat-kafkajs',
    brokers: [a.bootstrap],
    logLevel: logLevel.ERROR,
    retry: { retries: 8, initialRetryTime: 100 }
  })
  if (a.mode === 'produce') {
    const p = kafka.producer({ idempotent: true, maxInFlightRequests: 1 })
    await p.connect()
    const n = Number(a.count)
    const messages = []
    for (let i = 0; i < n; i++) {
      messages.push({ key: `k-${i % 7}`, value: `kafkajs-${i}`, headers: { idx: String(i), client: 'kafkajs' } })
    }
    // Two sends so the second batch's sequence numbers follow the first's.
    const half = Math.floor(n / 2)
    for (const part of [messages.slice(0, half), messages.slice(half)]) {
      const res = await p.send({ topic: a.topic, acks: -1, compression: CompressionTypes.GZIP, messages: part })
      for (const r of res) {
        if (r.errorCode !== 0) throw new Error(`produce error ${r.errorCode}`)
      }
    }
    await p.disconnect()
    emit({ key: 'produced', value: String(n) })
  } else if (a.mode === 'consume') {
    const c = kafka.consumer({ groupId: a.group, sessionTimeout: 20000, heartbeatInterval: 500, rebalanceTimeout: 30000 })
    await c.connect()
    await c.subscribe({ topic: a.topic, fromBeginning: true })
    const n = Number(a.count)
    let got = 0
    await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timeout after ${got} records`)), 60000)
      c.run({
        autoCommit: false,
        eachMessage: async ({ partition, message }) => {
          const h = {}
          for (const [k, v] of Object.entries(message.headers || {})) h[k] = v.toString()
          emit({ p: partition, o: Number(message.offset), k: message.key.toString(), v: message.value.toString(), h })
          await c.commitOffsets([{ topic: a.topic, partition, offset: String(Number(message.offset) + 1) }])
          if (++got >= n) { clearTimeout(timer); resolve() }
        }
      }).catch(reject)
    })
    await c.disconnect()
  } else if (a.mode === 'admin') {
    const ad = kafka.admin()
    await ad.connect()
    const created = await ad.createTopics({ topics: [{ topic: a.topic, numPartitions: 3, replicationFactor: 1 }], waitForLeaders: true })
    emit({ key: 'created', value: String(created) })
    const md = await ad.fetchTopicMetadata({ topics: [a.topic] })
    emit({ key: 'partitions', value: String(md.topics[0].partitions.length) })
    const offs = await ad.fetchOffsets({ groupId: a.group, topics: [a.otopic] })
    for (const t of offs) {
      for (const p of t.partitions) emit({ key: `group.offset.${t.topic}.${p.partition}`, value: String(p.offset) })
    }
    await ad.deleteTopics({ topics: [a.topic] })
    const names = await ad.listTopics()
    emit({ key: 'deleted', value: String(!names.includes(a.topic)) })
    await ad.disconnect()
  } else {
    throw new Error(`unknown mode ${a.mode}`)
  }
}

main().then(() => process.exit(0), (e) => { console.error(e && e.stack ? e.stack : e); process.exit(1) })
