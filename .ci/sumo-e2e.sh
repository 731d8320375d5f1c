#!/usr/bin/env bash
# End to end with SUMO's own tools: a 3x3 grid of streets (netgenerate), random trips
# (randomTrips.py), floating-car data (sumo --fcd-output), imported by `vkm sumo import`
# into cross-border events between 3x3 districts and replayed by `vkm simulate --events`
# in both cost modes. Usage: .ci/sumo-e2e.sh path/to/vkm
set -euo pipefail
vkm=$(realpath "$1")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
export SUMO_HOME=${SUMO_HOME:-/usr/share/sumo}
netgenerate --grid --grid.number=6 --grid.length=200 --output-file=grid.net.xml >/dev/null
python3 "$SUMO_HOME/tools/randomTrips.py" -n grid.net.xml -o trips.xml --end 300 \
  --period 0.5 --min-distance 600 --seed 7 >/dev/null
sumo -n grid.net.xml -r trips.xml --end 400 --fcd-output fcd.xml --no-step-log \
  --no-warnings --duration-log.disable --seed 7 >/dev/null
"$vkm" sumo import --fcd fcd.xml --grid 3x3 --out events.csv --json | tee import.json
events=$(python3 -c 'import json; print(json.load(open("import.json"))["events"])')
[ "$events" -gt 20 ] || { echo "too few crossings imported: $events"; exit 1; }
for mode in model measured; do
  "$vkm" simulate --events events.csv --mode "$mode" --json | tee "sim-$mode.json"
  python3 - "$events" "sim-$mode.json" <<'PY'
import json, sys
expected, summary = int(sys.argv[1]), json.load(open(sys.argv[2]))
assert summary["crossings"] == expected, summary
assert summary["key_transfers"] == expected, summary
assert summary["blocks"] > 0 and summary["delay_s_p95"] > 0, summary
PY
done
echo "sumo end-to-end: $events crossings imported and admitted in both modes"
