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
// refuses a directory of another version, touching nothing, so an older
// binary never misreads (or cuts as torn) what a newer one wrote, and a
// newer one never runs on a layout it would have to migrate first. A
// directory without the file was written before the file existed (format
// 1, this release's): it is adopted, as is a new, empty one. FROZEN:
// formatFileName, the line's wording; a new version number means a
// changed layout, with its migration.
const (
	formatFileName = "FORMAT"
	formatPrefix   = "gregor storage format "
	formatVersion  = 1
)

// ErrFormat is returned by Open for a data directory of another format.
var ErrFormat = errors.New("storage: data directory format")

// checkDirFormat reads dir's FORMAT file; adopt is true when there is
// none (a new directory, or one written before the file existed): the
// caller writes it with writeDirFormat once the store opened, so a refused
// Open changes nothing.
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
				log.Info("storage: adopting a data directory written before it carried a format version",
					zap.String("dir", dir), zap.Int("format", formatVersion))
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
		return false, fmt.Errorf("%w: %s is format %d; this binary reads format %d and does not migrate "+
			"(nothing was changed)", ErrFormat, dir, v, formatVersion)
	}
	return false, nil
}

func writeDirFormat(fs FS, dir string) error {
	return writeFileAtomic(fs, filepath.Join(dir, formatFileName), []byte(fmt.Sprintf("%s%d\n", formatPrefix, formatVersion)))
}
