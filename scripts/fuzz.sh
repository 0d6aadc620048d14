#!/usr/bin/env bash
# Runs every Fuzz* function of the module with Go's fuzzing engine, one after
# the other, for a fixed time each. A crash fails the run; the engine writes
# the failing input to <package>/testdata/fuzz/<FuzzName>/ (commit it with the
# fix: `go test` replays it from then on).
#
#   fuzz.sh [-save] [DURATION]     DURATION per fuzzer (default 10s)
#
# -save copies the inputs the engine found interesting (new coverage), which
# it keeps in $(go env GOCACHE)/fuzz, into <package>/testdata/fuzz/<FuzzName>/,
# so the corpus grows in the repository and every later `go test` replays it.
# `make test` runs without -save (a test run leaves the tree as it was);
# `make fuzz` runs with it (commit what it found).
#
# FUZZ_MATCH (a grep -E pattern on "package FuzzName") picks a subset.
set -euo pipefail
cd "$(dirname "$0")/.."

save=0
if [[ ${1:-} == -save ]]; then
	save=1
	shift
fi
fuzztime=${1:-10s}
cache=$(go env GOCACHE)/fuzz
module=$(go list -m)

# "dir name" for every fuzz function of every test file.
mapfile -t targets < <(grep -rE --include='*_test.go' -o '^func Fuzz[A-Za-z0-9_]+' . |
	grep -v -e '/testdata/' -e '/node_modules/' |
	sed -E 's#^\./(.*)/[^/]+_test\.go:func (Fuzz[A-Za-z0-9_]+)$#\1 \2#' | sort -u |
	grep -E "${FUZZ_MATCH:-.}")
if ((${#targets[@]} == 0)); then
	echo "fuzz.sh: no fuzz function found" >&2
	exit 1
fi

# count prints how many files folder $1 holds (0 when it does not exist).
count() {
	if [[ -d $1 ]]; then
		find "$1" -type f | wc -l
	else
		echo 0
	fi
}

start=$SECONDS
failed=()
flaked=()
# Each package's test binary is built once, instrumented for fuzzing (what
# go test -fuzz builds), and run once per fuzzer in the package's folder (the
# seed corpus is read from testdata there), with the engine's cache where go
# test would put it. This saves a go test build and link per fuzzer.
bins=$(mktemp -d)
trap 'rm -rf "$bins"' EXIT
declare -A bin
for t in "${targets[@]}"; do
	read -r dir name <<<"$t"
	[[ -n ${bin[$dir]:-} ]] && continue
	bin[$dir]="$bins/${dir//\//_}.test"
	if ! out=$(go test -c -fuzz=. -o "${bin[$dir]}" "./$dir" 2>&1); then
		echo "$out"
		echo "fuzz.sh: building the fuzz test binary of $dir failed" >&2
		exit 1
	fi
done
echo "fuzz.sh: built ${#bin[@]} fuzz test binaries in $((SECONDS - start))s"

for t in "${targets[@]}"; do
	read -r dir name <<<"$t"
	before=$(count "$dir/testdata/fuzz/$name")
	echo "=== fuzz $dir $name ($fuzztime)"
	t0=$SECONDS
	log=$(mktemp)
	if (cd "$dir" && "${bin[$dir]}" -test.run='^$' -test.fuzz="^${name}\$" -test.fuzztime="$fuzztime" \
		-test.fuzzcachedir="$cache/$module/$dir" -test.timeout=1h) >"$log" 2>&1; then
		tail -n 3 "$log"
	elif grep -q 'context deadline exceeded' "$log" &&
		! grep -q -e 'Failing input written to' -e 'failure while testing seed corpus' -e '^panic:' "$log"; then
		# Go 1.26's fuzz coordinator can report its own -fuzztime deadline
		# as a failure when a worker is still mid-input on a busy machine
		# (golang/go#75804, fixed in Go 1.27): no input failed, none was
		# written. Anything else is a failure.
		tail -n 4 "$log"
		echo "fuzz.sh: $dir $name: the engine's deadline race (golang/go#75804), no failing input; not counted as a failure"
		flaked+=("$dir $name")
	else
		cat "$log"
		failed+=("$dir $name")
	fi
	rm -f "$log"
	added=0
	if ((save)) && [[ -d "$cache/$module/$dir/$name" ]]; then
		mkdir -p "$dir/testdata/fuzz/$name"
		for f in "$cache/$module/$dir/$name"/*; do
			[[ -f $f ]] || continue
			dst="$dir/testdata/fuzz/$name/$(basename "$f")"
			if [[ ! -e $dst ]]; then
				cp "$f" "$dst"
				added=$((added + 1))
			fi
		done
	fi
	after=$(count "$dir/testdata/fuzz/$name")
	echo "--- $dir $name: $((SECONDS - t0))s, testdata corpus $before → $after files (+$added from the engine's cache)"
done

echo "fuzz.sh: ${#targets[@]} fuzzers, $fuzztime each, $((SECONDS - start))s in all; ${#failed[@]} failed, ${#flaked[@]} hit the engine's deadline race"
if ((${#failed[@]})); then
	printf 'fuzz.sh: FAILED: %s\n' "${failed[@]}" >&2
	exit 1
fi
