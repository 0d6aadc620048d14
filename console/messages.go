package console

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/twmb/franz-go/pkg/kgo"
)

const (
	browseMaxLimit = 500   // records shown at most
	browseMaxScan  = 20000 // records a key search reads at most
	browseWait     = 5 * time.Second
)

// browseForm is the message browser's query.
type browseForm struct {
	Topic     string
	Partition int32
	Mode      string // offset, timestamp or key
	Offset    string
	Timestamp string // RFC 3339, datetime-local or Unix milliseconds
	Key       string
	Limit     int
	Format    string // text, json or hex
}

type shownRecord struct {
	Partition int32
	Offset    int64
	Timestamp int64
	Key       string
	KeyNull   bool
	Value     string
	ValueNull bool
	Note      string // how the value is shown, when not as asked
	Size      int
	Headers   []shownHeader
}

type shownHeader struct {
	Key, Value string
}

type browseData struct {
	Form       browseForm
	Topics     []string
	Partitions int
	Start, End int64
	From       int64 // the offset reading began at
	Scanned    int
	Records    []shownRecord
	Searched   bool
	Note       string
}

func (c *Console) messagesPage(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := browseForm{Topic: q.Get("topic"), Mode: q.Get("mode"), Offset: q.Get("offset"), Timestamp: q.Get("timestamp"),
		Key: q.Get("key"), Format: q.Get("format")}
	if p, err := strconv.ParseInt(q.Get("partition"), 10, 32); err == nil && p >= 0 {
		f.Partition = int32(p)
	}
	f.Limit, _ = strconv.Atoi(q.Get("limit"))
	if f.Limit <= 0 {
		f.Limit = 20
	}
	f.Limit = min(f.Limit, browseMaxLimit)
	switch f.Mode {
	case "offset", "timestamp", "key":
	default:
		f.Mode = "offset"
	}
	switch f.Format {
	case "text", "json", "hex":
	default:
		f.Format = "text"
	}
	ctx, cancel := c.ctx(r)
	defer cancel()
	d := browseData{Form: f}
	md, err := c.admin(ctx).Metadata(ctx)
	if err != nil {
		c.failed(w, r, http.StatusBadGateway, fmt.Errorf("metadata: %w", err))
		return
	}
	d.Topics = md.Topics.Names()
	p := c.newPage(r, "Messages", "messages", &d)
	if f.Topic == "" {
		c.render(w, r, "messages", p, false)
		return
	}
	t, ok := md.Topics[f.Topic]
	if !ok {
		p.Error = fmt.Sprintf("no topic %q", f.Topic)
		c.render(w, r, "messages", p, false)
		return
	}
	d.Partitions = len(t.Partitions)
	if int(f.Partition) >= d.Partitions {
		p.Error = fmt.Sprintf("topic %q has partitions 0 to %d", f.Topic, d.Partitions-1)
		c.render(w, r, "messages", p, false)
		return
	}
	if err := c.browse(ctx, &d); err != nil {
		p.Error = err.Error()
	}
	c.render(w, r, "messages", p, false)
}

// browse fills d.Records from d.Form.
func (c *Console) browse(ctx context.Context, d *browseData) error {
	f := d.Form
	starts, err := c.admin(ctx).ListStartOffsets(ctx, f.Topic)
	if err != nil {
		return err
	}
	ends, err := c.admin(ctx).ListEndOffsets(ctx, f.Topic)
	if err != nil {
		return err
	}
	so, _ := starts.Lookup(f.Topic, f.Partition)
	eo, _ := ends.Lookup(f.Topic, f.Partition)
	if so.Err != nil || eo.Err != nil {
		return fmt.Errorf("offsets of %s/%d: %v %v", f.Topic, f.Partition, so.Err, eo.Err)
	}
	d.Start, d.End = so.Offset, eo.Offset
	from := max(d.Start, d.End-int64(f.Limit)) // the newest records by default
	switch f.Mode {
	case "offset":
		if s := strings.TrimSpace(f.Offset); s != "" {
			o, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				return fmt.Errorf("offset %q is not a number", s)
			}
			from = max(o, d.Start)
		}
	case "timestamp":
		ms, err := parseTime(f.Timestamp)
		if err != nil {
			return err
		}
		lo, err := c.admin(ctx).ListOffsetsAfterMilli(ctx, ms, f.Topic)
		if err != nil {
			return err
		}
		o, _ := lo.Lookup(f.Topic, f.Partition)
		if o.Err != nil {
			return o.Err
		}
		from = o.Offset
		if from < 0 {
			from = d.End
		}
	case "key":
		from = d.Start
		if s := strings.TrimSpace(f.Offset); s != "" {
			if o, err := strconv.ParseInt(s, 10, 64); err == nil {
				from = max(o, d.Start)
			}
		}
		d.Searched = true
	}
	d.From = from
	if from >= d.End {
		d.Note = "nothing at or after this position yet"
		return nil
	}
	cl, err := kgo.NewClient(append(append([]kgo.Opt(nil), c.kafkaOpts(ctx)...),
		kgo.ClientID("gregor-console-browser"),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{f.Topic: {f.Partition: kgo.NewOffset().At(from)}}),
		kgo.FetchMaxWait(500*time.Millisecond),
		kgo.FetchIsolationLevel(kgo.ReadUncommitted()),
	)...)
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, browseWait)
	defer cancel()
	key := []byte(f.Key)
	for len(d.Records) < f.Limit && d.Scanned < browseMaxScan {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			break
		}
		var ferr error
		fs.EachError(func(_ string, _ int32, err error) { ferr = err })
		if ferr != nil {
			return ferr
		}
		last := int64(-1)
		fs.EachRecord(func(rec *kgo.Record) {
			last = rec.Offset
			if len(d.Records) >= f.Limit || rec.Offset < from {
				return
			}
			d.Scanned++
			if f.Mode == "key" && !bytes.Equal(rec.Key, key) {
				return
			}
			d.Records = append(d.Records, show(rec, f.Format))
		})
		if last >= d.End-1 {
			break
		}
	}
	if f.Mode == "key" && len(d.Records) == 0 {
		d.Note = fmt.Sprintf("no record with this key in %d records read from offset %d", d.Scanned, from)
	}
	return nil
}

// parseTime reads Unix milliseconds, RFC 3339, or a datetime-local value
// (taken as UTC).
func parseTime(s string) (int64, error) {
	s = strings.TrimSpace(s)
	if ms, err := strconv.ParseInt(s, 10, 64); err == nil {
		return ms, nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02 15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UnixMilli(), nil
		}
	}
	return 0, fmt.Errorf("timestamp %q: give Unix milliseconds or a date and time such as 2026-01-02T15:04:05Z", s)
}

func show(rec *kgo.Record, format string) shownRecord {
	sr := shownRecord{Partition: rec.Partition, Offset: rec.Offset, Timestamp: rec.Timestamp.UnixMilli(),
		KeyNull: rec.Key == nil, ValueNull: rec.Value == nil, Size: len(rec.Key) + len(rec.Value)}
	sr.Key = textOrHex(rec.Key)
	for _, h := range rec.Headers {
		sr.Headers = append(sr.Headers, shownHeader{Key: h.Key, Value: textOrHex(h.Value)})
	}
	switch format {
	case "hex":
		sr.Value = hexDump(rec.Value)
	case "json":
		var buf bytes.Buffer
		if json.Indent(&buf, rec.Value, "", "  ") == nil {
			sr.Value = buf.String()
		} else {
			sr.Value, sr.Note = textOrHex(rec.Value), "not JSON"
		}
	default:
		if utf8.Valid(rec.Value) {
			sr.Value = string(rec.Value)
		} else {
			sr.Value, sr.Note = hexDump(rec.Value), "binary, shown as hex"
		}
	}
	return sr
}

func textOrHex(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	return "0x" + hex.EncodeToString(b)
}

// hexDump is 16 bytes a line: offset, hex, printable characters.
func hexDump(b []byte) string {
	var s strings.Builder
	for i := 0; i < len(b); i += 16 {
		line := b[i:min(i+16, len(b))]
		fmt.Fprintf(&s, "%08x  ", i)
		for j := 0; j < 16; j++ {
			if j < len(line) {
				fmt.Fprintf(&s, "%02x ", line[j])
			} else {
				s.WriteString("   ")
			}
		}
		s.WriteString(" ")
		for _, c := range line {
			if c < 32 || c > 126 {
				c = '.'
			}
			s.WriteByte(c)
		}
		s.WriteByte('\n')
	}
	return s.String()
}
