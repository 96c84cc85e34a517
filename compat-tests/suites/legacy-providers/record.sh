#!/usr/bin/env bash
# Record this suite from the real legacy on the private recording stack (docs/legacy-lab.md,
# "Recording suites"; /work/lab/rec-reset.sh and rec.env come from the lab, outside the repo).
#   compat-tests/suites/legacy-providers/record.sh            primary recording
#   compat-tests/suites/legacy-providers/record.sh --secondary  the same scenarios again (noise learning)
# Needs the compat mock (Anthropic + Bedrock shapes) on MOCK_PORT and the h2c bridge on BRIDGE_PORT:
#   npm run compat -- mock --port 18082 &
#   npx tsx compat-tests/suites/legacy-providers/h2c-bridge.ts --port 18083 --target http://127.0.0.1:18082 &
# Each group of scenarios.json (a {"fresh":true,"group":"gN"} marker and what follows it) starts from a
# fresh legacy: rec-reset.sh (with AWS_ENDPOINT_URL_BEDROCK_RUNTIME pointing the legacy's Bedrock SDK at
# the bridge), then provision.ts (CCR + Bedrock accounts and keys through the admin API, not recorded).
set -euo pipefail
cd "$(dirname "$0")/../../.."
SUITE=compat-tests/suites/legacy-providers
MOCK_PORT=${MOCK_PORT:-18082}
BRIDGE_PORT=${BRIDGE_PORT:-18083}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
groups=$(node -e 'for (const s of require(process.argv[1])) if (s.fresh) console.log(s.group)' "$PWD/$SUITE/scenarios.json")
for g in $groups; do
  AWS_ENDPOINT_URL_BEDROCK_RUNTIME=http://127.0.0.1:$BRIDGE_PORT /work/lab/rec-reset.sh >"$WORK/reset-$g.log" 2>&1 || { cat "$WORK/reset-$g.log"; exit 1; }
  cp /work/lab/rec.env "$WORK/vars-$g.env"
  npx tsx "$SUITE/provision.ts" --vars /work/lab/rec.env --mock "http://127.0.0.1:$MOCK_PORT" >>"$WORK/vars-$g.env"
  node -e '
    const all = require(process.argv[1]); const out = []; let cur = null;
    for (const s of all) { if (s.fresh) { cur = s.group; continue; } if (cur === process.argv[2]) out.push(s); }
    require("fs").writeFileSync(process.argv[3], JSON.stringify(out));' "$PWD/$SUITE/scenarios.json" "$g" "$WORK/scenarios-$g.json"
  echo "== group $g"
  npm run --silent compat -- record --suite legacy-providers "$@" --scenarios "$WORK/scenarios-$g.json" --vars "$WORK/vars-$g.env" \
    --base http://127.0.0.1:3001 --redis redis://127.0.0.1:6392 --pg postgres://postgres@127.0.0.1:5432/crs_rec \
    --mock "http://127.0.0.1:$MOCK_PORT" --tz 8
done
