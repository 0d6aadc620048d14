package bench

import (
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// mb is the MB of MB/s: 2^20 bytes, as kafka-producer-perf-test counts.
const mb = 1 << 20

// Summary is the result of one run; --json prints it as it is.
type Summary struct {
	Mode        Mode    `json:"mode"`
	Topic       string  `json:"topic"`
	Topics      int     `json:"topics,omitempty"` // > 1: Topic-0 … Topic-(Topics-1)
	Partitions  int32   `json:"partitions"`       // over all topics
	RecordSize  int     `json:"record_size"`
	TargetRate  float64 `json:"target_rate"`
	Acks        string  `json:"acks"`
	LingerMs    float64 `json:"linger_ms"`
	Compression string  `json:"compression"`
	Producers   int     `json:"producers"`
	Consumers   int     `json:"consumers"`
	Fanout      int     `json:"fanout,omitempty"` // independent readers of the whole topic (consume)
	Keys        KeyMode `json:"keys"`
	Partitioner string  `json:"partitioner,omitempty"`

	// Seconds is the measured time: from the start (after warm-up) to the
	// last record counted.
	Seconds       float64 `json:"seconds"`
	Records       int64   `json:"records"`
	RecordsPerSec float64 `json:"records_per_sec"`
	MBPerSec      float64 `json:"mb_per_sec"`
	Errors        int64   `json:"errors"`
	FirstError    string  `json:"first_error,omitempty"`
	// Latency is the produce acknowledgement latency (produce) or the
	// producer-to-consumer latency (e2e).
	Latency *Latency `json:"latency,omitempty"`

	// e2e only: the records acknowledged to the producers while measuring,
	// their acknowledgement latency, and how many acknowledged records
	// never arrived at a consumer (counted over the whole run).
	Sent       int64    `json:"sent,omitempty"`
	AckLatency *Latency `json:"ack_latency,omitempty"`
	Lost       int64    `json:"lost,omitempty"`

	// Batches is how many record batches the producers wrote (warm-up
	// included), with their mean record count and size as written.
	Batches         int64   `json:"batches,omitempty"`
	RecordsPerBatch float64 `json:"records_per_batch,omitempty"`
	BytesPerBatch   float64 `json:"bytes_per_batch,omitempty"`

	// Preload is the produce run that filled the topic before a consume.
	Preload *Summary `json:"preload,omitempty"`

	// CPU time spent while measuring, by the broker (--broker-pid, from
	// /proc) and by this process (all its clients), in total and per record
	// counted: a figure a busy machine disturbs less than throughput.
	BrokerCPUSeconds      float64 `json:"broker_cpu_seconds,omitempty"`
	ClientCPUSeconds      float64 `json:"client_cpu_seconds,omitempty"`
	BrokerCPUMicrosPerRec float64 `json:"broker_cpu_us_per_record,omitempty"`
	ClientCPUMicrosPerRec float64 `json:"client_cpu_us_per_record,omitempty"`

	// BrokerRSSMaxBytes is the highest resident set size of --broker-pid
	// sampled once a second (Linux only).
	BrokerRSSMaxBytes int64 `json:"broker_rss_max_bytes,omitempty"`
}

// fill sets the run's shape from cfg.
func (s *Summary) fill(cfg *Config, partitions int32) {
	s.Mode = cfg.Mode
	s.Topic = cfg.Topic
	if cfg.Topics > 1 {
		s.Topics = cfg.Topics
	}
	s.Partitions = partitions
	s.RecordSize = cfg.RecordSize
	s.TargetRate = cfg.Rate
	s.Acks = cfg.Acks
	s.LingerMs = float64(cfg.Linger) / float64(time.Millisecond)
	s.Compression = cfg.Compression
	s.Producers = cfg.Producers
	s.Consumers = cfg.Consumers
	if cfg.Fanout > 1 {
		s.Fanout = cfg.Fanout
	}
	s.Keys = cfg.Keys
	if cfg.Mode != ModeConsume {
		s.Partitioner = cfg.Partitioner
	}
}

// measure sets throughput, errors and latency from a meter snapshot.
func (s *Summary) measure(sn snapshot) {
	s.Records = sn.records
	s.Errors = sn.errors
	s.Latency = latencyOf(sn.hist)
	if !sn.last.IsZero() {
		s.Seconds = sn.last.Sub(sn.start).Seconds()
	}
	if s.Seconds > 0 {
		s.RecordsPerSec = float64(sn.records) / s.Seconds
		s.MBPerSec = float64(sn.bytes) / mb / s.Seconds
	}
}

// setBatches fills the batch figures from the producers' counter and the
// records they had acknowledged (warm-up included, as the counter).
func (s *Summary) setBatches(b *batchCounter, acked int64) {
	s.Batches = b.batches.Load()
	if s.Batches > 0 {
		s.RecordsPerBatch = float64(acked) / float64(s.Batches)
		s.BytesPerBatch = float64(b.bytes.Load()) / float64(s.Batches)
	}
}

// WriteText prints the summary for people.
func (s *Summary) WriteText(w io.Writer) {
	if s.Preload != nil {
		s.Preload.WriteText(w)
	}
	if s.Topics > 1 {
		fmt.Fprintf(w, "%s: topics %s-0…%d, %d partitions in all", s.Mode, s.Topic, s.Topics-1, s.Partitions)
	} else {
		fmt.Fprintf(w, "%s: topic %s, %d partitions", s.Mode, s.Topic, s.Partitions)
	}
	if s.Producers > 0 {
		fmt.Fprintf(w, ", %d B records, acks=%s, linger %gms, compression %s, keys %s, %s partitioner, %d producer(s)",
			s.RecordSize, s.Acks, s.LingerMs, s.Compression, s.Keys, s.Partitioner, s.Producers)
	}
	if s.Consumers > 0 {
		fmt.Fprintf(w, ", %d consumer(s)", s.Consumers)
		if s.Fanout > 1 {
			fmt.Fprintf(w, " × %d readers", s.Fanout)
		}
	}
	if s.TargetRate > 0 {
		fmt.Fprintf(w, ", target %s rec/s", thousands(s.TargetRate))
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "  records %s in %.2fs: %s rec/s, %.1f MB/s, errors %d\n",
		thousands(float64(s.Records)), s.Seconds, thousands(s.RecordsPerSec), s.MBPerSec, s.Errors)
	if s.Mode == ModeE2E {
		fmt.Fprintf(w, "  sent %s, lost %d\n", thousands(float64(s.Sent)), s.Lost)
	}
	if s.Batches > 0 {
		fmt.Fprintf(w, "  batches %s: %.1f records, %s bytes each on average\n",
			thousands(float64(s.Batches)), s.RecordsPerBatch, thousands(s.BytesPerBatch))
	}
	name := "ack latency"
	if s.Mode == ModeE2E {
		name = "end-to-end latency"
	}
	writeLatency(w, name, s.Latency)
	writeLatency(w, "ack latency", s.AckLatency)
	if s.ClientCPUSeconds > 0 {
		fmt.Fprintf(w, "  CPU: client %.2fs (%.2f µs/record)", s.ClientCPUSeconds, s.ClientCPUMicrosPerRec)
		if s.BrokerCPUSeconds > 0 {
			fmt.Fprintf(w, ", broker %.2fs (%.2f µs/record)", s.BrokerCPUSeconds, s.BrokerCPUMicrosPerRec)
		}
		fmt.Fprintln(w)
	}
	if s.BrokerRSSMaxBytes > 0 {
		fmt.Fprintf(w, "  broker RSS max %.1f MiB\n", float64(s.BrokerRSSMaxBytes)/mb)
	}
	if s.FirstError != "" {
		fmt.Fprintf(w, "  first error: %s\n", s.FirstError)
	}
}

func writeLatency(w io.Writer, name string, l *Latency) {
	if l == nil {
		return
	}
	fmt.Fprintf(w, "  %s ms: p50 %.3f, p99 %.3f, p99.9 %.3f, max %.3f (mean %.3f)\n",
		name, l.P50, l.P99, l.P999, l.Max, l.Mean)
}

// thousands prints a number rounded to an integer with thousands separators.
func thousands(v float64) string {
	s := strconv.FormatInt(int64(math.Round(v)), 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// rssBytes reads a process's resident set size from /proc (Linux); 0 when
// it cannot.
func rssBytes(pid int) int64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(rest) // "123456 kB"
			if len(f) >= 1 {
				kb, _ := strconv.ParseInt(f[0], 10, 64)
				return kb * 1024
			}
		}
	}
	return 0
}

// clockTicks is USER_HZ, the unit of /proc/PID/stat's CPU times: 100 on
// every Linux architecture Go supports.
const clockTicks = 100

// procCPUSeconds is a process's user+system CPU time from /proc (Linux); 0
// when it cannot be read.
func procCPUSeconds(pid int) float64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	// The command name may hold spaces and parentheses: the fields that
	// follow start after its last ')'. utime and stime are fields 14 and
	// 15 of the line, 12 and 13 after the name.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return float64(u+st) / clockTicks
}

// selfCPUSeconds is this process's user+system CPU time.
func selfCPUSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}
