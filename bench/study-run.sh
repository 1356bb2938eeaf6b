#!/usr/bin/env bash
# Run the faithfulness study's evaluations one after another (docs/faithfulness-study.md): one
# `naflow eval` folder per method id under OUT, so a configuration added later never invalidates the
# others and each run resumes where it stopped. Several copies may run over the same list (e.g. one
# per core, in opposite orders): a method whose folder another copy holds (OUT/<id>.lock) is skipped.
# Usage: bench/study-run.sh MODEL DATA LAYERS OUT [--card CARD] [--every K] -- METHOD...
set -euo pipefail
model=$1 data=$2 layers=$3 out=$4
shift 4
extra=()
while [ "$1" != "--" ]; do extra+=("$1"); shift; done
shift
here=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$out"
for method in "$@"; do
  dir="$out/$(echo "$method" | sed "s/:/_/g; s/=/-/g; s/,/+/g")"
  [ -f "$dir/results.json" ] && [ ! -d "$dir.lock" ] && continue
  mkdir "$dir.lock" 2>/dev/null || continue
  echo "== $method → $dir"
  node "$here/bin/naflow.js" eval "$model" --data "$data" --methods "$method" --layers "$layers" \
    --metrics deletion,insertion,drop --steps 16 --out "$dir" --threads 1 "${extra[@]}" 2>&1 | tail -n 2 || true
  rmdir "$dir.lock"
done
