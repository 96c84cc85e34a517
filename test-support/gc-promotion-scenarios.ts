/**
 * Scenarios for gc-promotion.ts, run in a child Node: `<scenario> <requests>`. Each simulates requests that overlap
 * (up to 24 in flight, a varying number, each living a few event-loop turns) and hold a payload of
 * PAYLOAD_BYTES through the structure under test; the scenario prints `PAYLOAD <bytes>` and exits. Before the load,
 * one request stays in flight across a few young GCs, as a process that served a first request before the load came.
 */
import { InFlightList } from '../gateway/lifecycle/in-flight-list.js';
import { deferredReply } from '../migrated/http/deferred-reply.js';
import { HeaderList } from '../migrated/http/header-list.js';
import { LatestWins } from '../migrated/pg/latest-wins.js';
import type { LegacyReply } from '../migrated/http/reply.js';

const PAYLOAD_ITEMS = 64;
const PAYLOAD_BYTES = PAYLOAD_ITEMS * 64;
const payload = () => Array.from({ length: PAYLOAD_ITEMS }, (_, i) => ({ i, text: `item ${i}`, pair: [i, i + 1] }));

interface Request {
  payload: unknown;
}

/** What one request does with the structure under test: `begin` at its start, `end` when it finishes. */
interface Scenario {
  begin(req: Request): void;
  end(req: Request): void;
}

function replyOf(req: Request): LegacyReply {
  const headers = new HeaderList();
  return {
    requestId: 'r',
    headers,
    json: () => void req.payload,
    jsonText: () => undefined,
    send: () => undefined,
    writeHead: () => headers.toFlat(),
  };
}

/** A hot key's coalesced writes as the PostgreSQL store makes them: 50 ms apart, each taking a few ms. */
function mirrorWrites(): LatestWins<unknown> {
  return new LatestWins<unknown>(() => new Promise((r) => setTimeout(() => r(true), 5)), { minSpacingMs: 50 });
}

const scenarios: Record<string, () => Scenario> = {
  /** Known retainer (checks the probe): a module-level Set of in-flight requests, as the drain had. */
  'set-of-in-flight': () => {
    const set = new Set<Request>();
    return { begin: (r) => void set.add(r), end: (r) => void set.delete(r) };
  },
  /** Known retainer (checks the probe): an object literal with its own getter per request. */
  'getter-literal': () => {
    const kept: Array<{ readonly payload: unknown } | null> = [];
    return {
      begin: (r) => {
        const o = {
          get payload() {
            return r.payload;
          },
        };
        kept.push(o);
        kept.length = 0;
      },
      end: () => undefined,
    };
  },
  'in-flight-list': () => {
    const list = new InFlightList<Request>();
    return { begin: (r) => list.add(r), end: (r) => void list.delete(r) };
  },
  /**
   * Known retainer (checks the probe): each request waits for a coalesced write that may take its 50 ms spacing
   * (the usage recorder's PostgreSQL mirror, awaited as record() does).
   */
  'mirror-awaited': () => {
    const writes = mirrorWrites();
    return { begin: (r) => void writes.submit('key', 0).then(() => r.payload), end: () => undefined };
  },
  /** The relays' recordDetached: the request submits its row (replacing the pending one) and does not wait. */
  'mirror-detached': () => {
    const writes = mirrorWrites();
    return { begin: (r) => void writes.submit('key', r.payload), end: () => undefined };
  },
  'deferred-reply': () => ({
    begin: (r) => {
      const reply = deferredReply(() => replyOf(r));
      setImmediate(reply.build);
      (r as Request & { reply?: unknown }).reply = reply;
    },
    end: () => undefined,
  }),
};

async function main(): Promise<void> {
  const [name, countText] = process.argv.slice(2);
  const make = scenarios[name!];
  if (!make) throw new Error(`unknown scenario ${name}`);
  const scenario = make();
  const total = Number(countText);
  // A process has been up for a while before load arrives: whatever the structure holds then has reached the old
  // generation (one request in flight across a few young GCs).
  const first: Request = { payload: payload() };
  scenario.begin(first);
  for (let i = 0; i < 3 * 1024; i++) payload();
  await new Promise((r) => setImmediate(r));
  scenario.end(first);
  let started = 0;
  let done = 0;
  await new Promise<void>((resolve) => {
    const finish = (req: Request) => {
      scenario.end(req);
      if (++done === total) resolve();
    };
    const pump = () => {
      // between 1 and 24 requests in flight, varying, each ending after 1 to 3 turns
      const want = 1 + (started % 24);
      while (started < total && started - done < want) {
        const req: Request = { payload: payload() };
        started++;
        scenario.begin(req);
        const turns = 1 + (started % 3);
        const step = (n: number) => (n === 0 ? finish(req) : setImmediate(step, n - 1));
        setImmediate(step, turns);
      }
      if (started < total) setImmediate(pump);
    };
    pump();
  });
  console.log(`PAYLOAD ${PAYLOAD_BYTES}`);
}

void main();
