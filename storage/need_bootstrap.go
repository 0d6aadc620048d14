package storage

import "errors"

// ErrNeedBootstrap is returned by Truncate when the commit log cannot be
// cut at the position locally (it is below the first retained segment, or
// the derived state as of it cannot be rebuilt): the slave then asks its
// master for a bootstrap (ReadBootstrap → InstallBootstrap). Agreed in the
// replication seam (issue 10); declared here first so package replication
// builds before Truncate lands.
var ErrNeedBootstrap = errors.New("storage: cannot truncate locally, a bootstrap is needed")
