import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { projectRoot } from './paths.js';

/**
 * How much of what a request allocates survives into V8's old generation: runs a scenario of
 * test-support/gc-promotion-scenarios.ts in a child Node (small young generation, one GC thread, no pretenuring, so
 * the figure depends on what keeps objects alive, not on V8's heuristics) and sums the bytes its young-generation
 * GCs promoted (`--trace-gc-nvp`).
 *
 * Objects that die with their request should die young; what is kept until a full GC (by a dead old object that
 * still points at it: a replaced hash table, a hidden class made for one object) is promoted with everything it
 * reaches, and under load the process then runs a full GC every few hundred ms (docs/claude-relay.md, session 8).
 */
export interface PromotionResult {
  /** Bytes promoted by young-generation GCs, per request of the scenario. */
  promotedPerRequest: number;
  /** At least the bytes each request kept reachable while in flight (its payload). */
  payloadBytes: number;
  scavenges: number;
}

const SCENARIOS = join(projectRoot, 'test-support', 'gc-promotion-scenarios.ts');

export function measurePromotion(scenario: string, requests = 20_000): Promise<PromotionResult> {
  const args = [
    '--import',
    'tsx',
    '--max-semi-space-size=1',
    '--min-semi-space-size=1',
    '--single-threaded-gc',
    '--no-allocation-site-pretenuring',
    '--trace-gc-nvp',
    SCENARIOS,
    scenario,
    String(requests),
  ];
  return new Promise((resolve, reject) => {
    execFile(process.execPath, args, { cwd: projectRoot, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`${scenario}: ${err.message}\n${stderr}`));
      let promoted = 0;
      let scavenges = 0;
      let payloadBytes = 0;
      for (const line of stdout.split('\n')) {
        if (line.startsWith('PAYLOAD ')) payloadBytes = Number(line.slice(8));
        if (!line.includes('gc=s ')) continue;
        const m = / promoted=(\d+) /.exec(line);
        if (m) {
          promoted += Number(m[1]);
          scavenges++;
        }
      }
      if (!payloadBytes || !scavenges) return reject(new Error(`${scenario}: no GC trace (${stderr || stdout.slice(0, 500)})`));
      resolve({ promotedPerRequest: promoted / requests, payloadBytes, scavenges });
    });
  });
}
