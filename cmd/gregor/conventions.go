package main

// The container conventions of the Kafka images people already have compose
// files for, beside the apache/kafka image's KAFKA_* rule (settings.go), so
// that such a file runs gregor by changing `image:` only.
//
//	image                    settings from                        data (when log.dirs is unset)
//	apache/kafka             KAFKA_* (apache rule), CLUSTER_ID    wherever KAFKA_LOG_DIRS says
//	confluentinc/cp-kafka    KAFKA_* (the same rule), CLUSTER_ID  /var/lib/kafka/data, its VOLUME
//	bitnami/kafka            KAFKA_CFG_* (Bitnami's rule),        /bitnami/kafka/data, under the
//	                         KAFKA_KRAFT_CLUSTER_ID               volume users mount at /bitnami
//
// Bitnami's rule turns KAFKA_CFG_LOG_SEGMENT_BYTES into log.segment.bytes:
// drop the prefix, lower-case, every `_` a `.`, with no escapes (its one
// exception, sasl_ssl and sasl_plaintext inside listener names, is kept).
// Precedence: GREGOR_* > KAFKA_* > KAFKA_CFG_* > the extra names.
//
// The data directory follows the image only inside gregor's image
// (GREGOR_CONTAINER is set there by the Dockerfile): when no flag or
// variable gives log.dirs (or log.dir) and the Kafka image's data path is
// present, which in a FROM scratch image means a volume is mounted there,
// the data goes there rather than to the image's own /var/lib/gregor.
// Outside the image nothing is probed: a host with Kafka installed keeps
// gregor's ./data default.

import (
	"os"
	"path/filepath"
	"strings"
)

// bitnamiEnvName is the Bitnami image's variable for key.
func bitnamiEnvName(key string) string {
	return "KAFKA_CFG_" + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

// bitnamiPropertyName turns a KAFKA_CFG_ variable without its prefix into a
// property name by Bitnami's rule.
func bitnamiPropertyName(rest string) string {
	s := strings.ReplaceAll(strings.ToLower(rest), "_", ".")
	s = strings.ReplaceAll(s, "sasl.ssl", "sasl_ssl")
	return strings.ReplaceAll(s, "sasl.plaintext", "sasl_plaintext")
}

// imageVariables are variables of the Kafka images that name no property:
// accepted, and logged with what gregor does with them.
var imageVariables = map[string]string{
	"ALLOW_PLAINTEXT_LISTENER":          "Bitnami's consent to a PLAINTEXT listener; gregor serves the listeners it is given",
	"KAFKA_KRAFT_CLUSTER_ID":            "read as cluster.id (Bitnami's name)",
	"KAFKA_ENABLE_KRAFT":                "gregor has no KRaft quorum and no ZooKeeper mode",
	"KAFKA_KRAFT_BOOTSTRAP_SCRAM_USERS": "gregor creates SCRAM users through AlterUserScramCredentials",
	"BITNAMI_DEBUG":                     "set logger.level=debug instead",
	"KAFKA_MOUNTED_CONF_DIR":            "gregor reads GREGOR_CONFIG",
	"KAFKA_CONF_FILE":                   "gregor reads GREGOR_CONFIG",
	"KAFKA_DATA_DIR":                    "see log.dirs",
	"KAFKA_VOLUME_DIR":                  "see log.dirs",
}

// containerMarker is set by gregor's Dockerfile: the data-directory probe
// runs only inside the image.
const containerMarker = "GREGOR_CONTAINER"

// imageRoot is where the probe looks (a test points it at a temporary
// directory).
var imageRoot = "/"

// imageDataDirs are the Kafka images' data directories, each used when its
// volume's mount point exists.
var imageDataDirs = []struct{ mount, dir, image string }{
	{"/bitnami", "/bitnami/kafka/data", "bitnami/kafka"},
	{"/var/lib/kafka/data", "/var/lib/kafka/data", "confluentinc/cp-kafka"},
}

// imageDataDir returns the data directory of the Kafka image whose volume
// is mounted, and that image's name; "" when none is.
func imageDataDir() (dir, image string) {
	for _, d := range imageDataDirs {
		if fi, err := os.Stat(filepath.Join(imageRoot, d.mount)); err == nil && fi.IsDir() {
			return filepath.Join(imageRoot, d.dir), d.image
		}
	}
	return "", ""
}
