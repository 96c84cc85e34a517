/**
 * Recording aid: after `/work/lab/rec-reset.sh` (fresh recording legacy + admin session in rec.env),
 * create this suite's accounts and keys through the legacy's admin API only, and print the
 * scenario variables as KEY=VALUE lines (appended to a copy of rec.env by the caller).
 *
 *   npx tsx compat-tests/suites/legacy-providers/provision.ts --vars /work/lab/rec.env --mock http://127.0.0.1:18082
 */
import { readVars } from '../../engine/record/scenarios.js';

function arg(name: string): string {
  const i = process.argv.indexOf(`--${name}`);
  const v = i > 0 ? process.argv[i + 1] : undefined;
  if (!v) throw new Error(`--${name} is required`);
  return v;
}

const vars = readVars(arg('vars'));
const base = vars['LAB_BASE_URL'] ?? 'http://127.0.0.1:3001';
const token = vars['AUTH_ADMIN_TOKEN'];
if (!token) throw new Error('AUTH_ADMIN_TOKEN missing in the vars file');
const mock = arg('mock');

async function post(path: string, body: unknown): Promise<{ data: Record<string, string> }> {
  const r = await fetch(base + path, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'user-agent': 'crs-lab-capture/1.0', authorization: `Bearer ${token}` },
    body: JSON.stringify(body),
  });
  const j = (await r.json()) as { success?: boolean; data: Record<string, string> };
  if (r.status !== 200 || j.success === false) throw new Error(`${path} -> ${r.status} ${JSON.stringify(j).slice(0, 300)}`);
  return j;
}

const ccr = await post('/admin/ccr-accounts', {
  name: 'prov-ccr',
  description: 'CCR account -> compat mock',
  apiUrl: `${mock}/v1/messages`,
  apiKey: 'ccr-key-123',
  priority: 50,
  supportedModels: { 'claude-sonnet-4-5': 'claude-sonnet-4-5-20250929' },
  accountType: 'shared',
});
const bedrock = await post('/admin/bedrock-accounts', {
  name: 'prov-bedrock',
  description: 'Bedrock account -> compat mock through the h2c bridge',
  region: 'us-west-2',
  awsCredentials: { accessKeyId: 'AKIALABTEST0001', secretAccessKey: 'lab-secret', sessionToken: 'lab-session' },
  accountType: 'dedicated',
  priority: 50,
});
const bedrockDefault = await post('/admin/bedrock-accounts', {
  name: 'prov-bedrock-default-model',
  description: 'Bedrock account with a default model and no session token',
  region: 'eu-central-1',
  defaultModel: 'claude-3-5-haiku',
  awsCredentials: { accessKeyId: 'AKIALABTEST0002', secretAccessKey: 'lab-secret-2' },
  accountType: 'dedicated',
  priority: 50,
});
const out: Record<string, string> = {
  PROV_CCR_ACCOUNT_ID: ccr.data['id']!,
  PROV_BEDROCK_ACCOUNT_ID: bedrock.data['id']!,
  PROV_BEDROCK_DEFAULT_ACCOUNT_ID: bedrockDefault.data['id']!,
};
const keys: Array<[string, Record<string, unknown>]> = [
  ['BEDROCK', { name: 'prov-bedrock-key', description: 'bound to prov-bedrock', bedrockAccountId: bedrock.data['id'] }],
  ['BEDROCK_DEFAULT', { name: 'prov-bedrock-default-key', description: 'bound to prov-bedrock-default-model', bedrockAccountId: bedrockDefault.data['id'] }],
  ['POOL', { name: 'prov-pool-key', description: 'unbound: ccr,<model> requests use the CCR pool' }],
];
for (const [tag, body] of keys) {
  const k = await post('/admin/api-keys', body);
  out[`PROV_${tag}_KEY`] = k.data['apiKey']!;
  out[`PROV_${tag}_KEY_ID`] = k.data['id']!;
}
console.log(Object.entries(out).map(([k, v]) => `${k}=${v}`).join('\n'));
