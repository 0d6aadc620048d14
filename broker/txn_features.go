package broker

// Features in ApiVersions (v3+, KIP-584): gregor supports and finalizes
// transaction.version 1 (KIP-890's level 2, where producers add partitions
// implicitly and every EndTxn bumps the epoch, is not implemented), so the
// Java 4.x client uses AddPartitionsToTxn as with a Kafka broker at level 1.

import "github.com/twmb/franz-go/pkg/kmsg"

const transactionVersion = 1

func addFeatures(resp *kmsg.ApiVersionsResponse) {
	if resp.Version < 3 {
		return
	}
	sf := kmsg.NewApiVersionsResponseSupportedFeature()
	sf.Name, sf.MinVersion, sf.MaxVersion = "transaction.version", 0, transactionVersion
	resp.SupportedFeatures = append(resp.SupportedFeatures, sf)
	ff := kmsg.NewApiVersionsResponseFinalizedFeature()
	ff.Name, ff.MinVersionLevel, ff.MaxVersionLevel = "transaction.version", transactionVersion, transactionVersion
	resp.FinalizedFeatures = append(resp.FinalizedFeatures, ff)
	resp.FinalizedFeaturesEpoch = 1
}
