#!/usr/bin/env bash
# `make test`: every test, in two concurrent streams sized to finish together. The image tests spend most of their
# time waiting on a TCG guest (one core), the rest of the suite on the other core; one after the other they overran
# CI's 90 minutes. Stream 1 builds the image once (EGRET_IMAGE then names it to both streams) and runs the image
# tests; stream 2 runs everything else, then the two-box image test.
# Arguments are pytest options given to every run (select files with `.venv/bin/python -m pytest <path>`).
set -uo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
mkdir -p build
out=artifacts/image
export EGRET_IMAGE=$PWD/$out/egret-amd64.raw
image_log=build/test-image.log
built=build/test-image.built   # the build's exit code, once it is known
TAIL_TEST=tests/image/test_image_two_boxes.py
rm -f "$built"
started=$(date +%s)
since() { echo $(( $(date +%s) - started )); }

(
  $PY images/build.py --out "$out"; rc=$?
  echo "$rc" > "$built"
  echo "image build: exit $rc after $(since)s"
  [ "$rc" -eq 0 ] || exit "$rc"
  $PY -m pytest tests/image --ignore="$TAIL_TEST" "$@"
) >"$image_log" 2>&1 &
image_pid=$!
trap 'kill $image_pid 2>/dev/null' EXIT INT TERM

$PY -m pytest --postgres --ignore=tests/image "$@"
rest=$?
echo "make test: tests without image exit $rest after $(since)s"

while [ ! -s "$built" ] && kill -0 $image_pid 2>/dev/null; do sleep 5; done
if [ "$(cat "$built" 2>/dev/null)" = 0 ]; then
  $PY -m pytest "$TAIL_TEST" "$@"
  tail_rc=$?
else
  echo "make test: $TAIL_TEST not run: the image build failed (see below)"
  tail_rc=1
fi
echo "make test: $TAIL_TEST exit $tail_rc after $(since)s"

wait $image_pid
image=$?
trap - EXIT INT TERM
echo "==================== image build and tests (ran alongside; $image_log) ===================="
cat "$image_log"
echo "make test: image tests exit $image after $(since)s"
ok() { [ "$1" -eq 0 ] || [ "$1" -eq 5 ]; }  # 5: nothing selected by the given options
echo "make test: others $rest, $TAIL_TEST $tail_rc, image $image"
ok $rest && ok $tail_rc && ok $image
