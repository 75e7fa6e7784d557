#!/usr/bin/env bash
# `make test`: every test, in two concurrent pytest runs. The image tests spend most of their time waiting on one
# TCG guest (one core), the rest of the suite on the other core; one after the other they took most of CI's 90 min.
# Arguments are pytest options passed to both runs (select files with `.venv/bin/python -m pytest <path>`).
set -uo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
mkdir -p build
image_log=build/test-image.log
started=$(date +%s)

$PY -m pytest tests/image "$@" >"$image_log" 2>&1 &
image_pid=$!
trap 'kill $image_pid 2>/dev/null' EXIT INT TERM

$PY -m pytest --postgres --ignore=tests/image "$@"
rest=$?
rest_done=$(( $(date +%s) - started ))

wait $image_pid
image=$?
image_done=$(( $(date +%s) - started ))
trap - EXIT INT TERM

echo "==================== image tests (ran alongside; $image_log) ===================="
cat "$image_log"
ok() { [ "$1" -eq 0 ] || [ "$1" -eq 5 ]; }  # 5: nothing selected by the given options
echo "make test: tests without image exit $rest after ${rest_done}s; image tests exit $image after ${image_done}s"
ok $rest && ok $image
