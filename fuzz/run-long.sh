#!/usr/bin/env bash
# A long fuzzing session, niced so it shares the machine: every target for HOURS (default 1),
# JOBS targets at once (default 3). The corpus in fuzz/corpus/ carries over between sessions.
#
#   fuzz/run-long.sh [HOURS] [TARGET...]
set -euo pipefail
HOURS=${1:-1}
shift || true
export JOBS=${JOBS:-3}
exec nice -n 19 "$(dirname "$0")/run.sh" "$(awk "BEGIN{print int($HOURS * 3600)}")" "$@"
