// Recording aid: drop upstream answers the compat mock logged without their headers.
// The mock (compat-tests/mock-upstream/server.ts) writes its answer headers with writeHead(status, headers),
// so res.getHeaders() — what it logs — is empty: replaying such an answer would serve a body without
// Content-Type / x-amzn-errortype / request-id. With only the status kept, the replay regenerates the mock's
// deterministic answer (as for traces recorded with the lab mock, which logs only the status).
//   node strip-mock-answers.mjs <suite dir>
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const dir = process.argv[2];
let stripped = 0;
for (const sub of ['exchanges', 'secondary/exchanges']) {
  let files = [];
  try {
    files = readdirSync(join(dir, sub)).filter((f) => f.endsWith('.json'));
  } catch {
    continue;
  }
  for (const f of files) {
    const file = join(dir, sub, f);
    const ex = JSON.parse(readFileSync(file, 'utf8'));
    let changed = false;
    for (const up of ex.upstream ?? []) {
      if (up.response && Array.isArray(up.response.rawHeaders) && up.response.rawHeaders.length === 0) {
        up.response = { status: up.response.status };
        changed = true;
        stripped++;
      }
    }
    if (changed) writeFileSync(file, JSON.stringify(ex, null, 2) + '\n');
  }
}
console.log(`stripped ${stripped} header-less mock answers in ${dir}`);
