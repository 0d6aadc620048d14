//go:build tools

// Package tools pins modules that packages and tests of gregor import, so that
// concurrent work on several packages never fights over go.mod. It is never built.
package tools

import (
	_ "github.com/HdrHistogram/hdrhistogram-go"
	_ "github.com/IBM/sarama"
	_ "github.com/confluentinc/confluent-kafka-go/v2/kafka"
	_ "github.com/google/uuid"
	_ "github.com/klauspost/compress/zstd"
	_ "github.com/pierrec/lz4/v4"
	_ "github.com/prometheus/client_golang/prometheus"
	_ "github.com/segmentio/kafka-go"
	_ "github.com/spf13/cobra"
	_ "github.com/spf13/viper"
	_ "github.com/twmb/franz-go/pkg/kadm"
	_ "github.com/twmb/franz-go/pkg/kfake"
	_ "github.com/twmb/franz-go/pkg/kgo"
	_ "github.com/twmb/franz-go/pkg/kmsg"
	_ "go.uber.org/zap"
)
