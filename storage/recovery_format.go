package storage

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"go.uber.org/zap"
)

// The data directory's format version, in <Dir>/FORMAT: one line of text,
// "gregor storage format <n>". Open reads it before anything else and
// refuses a directory of a later version, or of an earlier one it has no
// upgrade for, touching nothing, so an older binary never misreads (or
// cuts as torn) what a newer one wrote. An earlier version it upgrades
// (formatUpgrades) is opened and says formatVersion once open. A directory
// without the file was written before the file existed (format 1): it is
// upgraded the same way; a new, empty one is adopted. FROZEN:
// formatFileName, the line's wording; a new version number means a layout
// earlier binaries would misread, with its upgrade here.
//
//	1  d3cc1dc (FORMAT itself) and the commits before it
//	2  checkpoint v2 with transaction state (81daed9), 40-byte compaction
//	   states (25b22e0), transaction markers: a format-1 binary takes the
//	   checkpoint for corrupt and rebuilds from what the commit log still
//	   holds, and fails reads of compacted partitions
const (
	formatFileName = "FORMAT"
	formatPrefix   = "gregor storage format "
	formatVersion  = 2
)

// formatUpgrades are the earlier formats this binary opens, each with what
// opening it does. None rewrites data: this binary reads every layout they
// hold (checkpoint v1, 32-byte compaction states); the FORMAT line is
// rewritten once the store opened, so binaries of the earlier format
// refuse the directory from then on (the upgrade test:
// broker/upgrade_test.go, storage/testdata/upgrade-*).
var formatUpgrades = map[int]string{
	1: "format 1 layouts are read as they are; what this binary writes from now on (checkpoint v2, 40-byte compaction states, transaction markers) format-1 binaries would misread, so they will refuse the directory",
}

// ErrFormat is returned by Open for a data directory of another format.
var ErrFormat = errors.New("storage: data directory format")

// checkDirFormat reads dir's FORMAT file; adopt is true when there is
// none (a new directory, or one written before the file existed) or it
// names an earlier format this binary upgrades: the caller writes it with
// writeDirFormat once the store opened, so a refused Open changes nothing.
func checkDirFormat(fs FS, dir string, log *zap.Logger) (adopt bool, err error) {
	name := filepath.Join(dir, formatFileName)
	b, err := readWholeFile(fs, name)
	if errors.Is(err, os.ErrNotExist) {
		names, err := fs.ReadDir(dir)
		if err != nil {
			return false, err
		}
		for _, n := range names {
			if n == "commitlog" || n == checkpointName {
				log.Info("storage: upgrading a data directory written before it carried a format version (format 1)",
					zap.String("dir", dir), zap.Int("format", formatVersion), zap.String("upgrade", formatUpgrades[1]))
				break
			}
		}
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("storage: reading %s: %w", name, err)
	}
	line := strings.TrimSpace(string(b))
	v, err := strconv.Atoi(strings.TrimPrefix(line, formatPrefix))
	if !strings.HasPrefix(line, formatPrefix) || err != nil {
		return false, fmt.Errorf("%w: %s says %q, not %q<number>; refusing to open (nothing was changed)",
			ErrFormat, name, line, formatPrefix)
	}
	switch {
	case v > formatVersion:
		return false, fmt.Errorf("%w: %s is format %d, written by a later release; this binary reads format %d "+
			"(run the release that wrote it; nothing was changed)", ErrFormat, dir, v, formatVersion)
	case v < formatVersion:
		if how, ok := formatUpgrades[v]; ok {
			log.Info("storage: upgrading the data directory's format once it opened",
				zap.String("dir", dir), zap.Int("from", v), zap.Int("to", formatVersion), zap.String("upgrade", how))
			return true, nil
		}
		return false, fmt.Errorf("%w: %s is format %d; this binary reads format %d and does not migrate "+
			"(nothing was changed)", ErrFormat, dir, v, formatVersion)
	}
	return false, nil
}

func writeDirFormat(fs FS, dir string) error {
	return writeFileAtomic(fs, filepath.Join(dir, formatFileName), []byte(fmt.Sprintf("%s%d\n", formatPrefix, formatVersion)))
}
