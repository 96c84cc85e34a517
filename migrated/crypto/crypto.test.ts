import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { legacyTracesDir } from '../../test-support/paths.js';
import { scriptedIds } from '../runtime/ids.js';
import { ACCOUNT_SALTS, AccountCipher } from './account-crypto.js';
import { generateRawApiKey, hashApiKey } from './api-key-hash.js';

const DEFAULT_KEY = 'CHANGE-THIS-32-CHARACTER-KEY-NOW';
const LAB_KEY = 'lab-encryption-key-32chars-00000';

// crypto.md §7 vectors
const KEYS: Record<string, string> = {
  claude: '6bc19eafb4ba064c8c75601131fe8c2d790380763c2e2fa72e1c13372c9e024f',
  'claude-console': '9e772dc0bbe0069e66c75a502066af6e1890c4956191fdaca3e88e72750bfc30',
  openai: '6909a9d6c686d9acc8a4fcd778b7e16cb7bfd58fb91d83b58e2e809a941e5d74',
  'openai-responses': '57a39ae1b7bf7503b02aae96aacdc2ac52de2b25cab99c77a2ce6a7e5539fd29',
  gemini: '0abd80f25a58582eae198c1bca26b5c4f6d2403a800bcb7d62965c725d2f8276',
  'gemini-api': 'bf107fad80ede6969795b526fccebd24de814f79f4d969644454dce81e980d77',
  'azure-openai': '802d45428474b4f9efcdc7a70bd9812a0ede553cde8a594d4c65a17917582d81',
  ccr: '67c13eeac50d48e8f0373035dd5dbc954275c3a9a70b8a6198c1257c0caf4b40',
  droid: 'fd3a4c0184e7a24340c2289ecab2fbac04374efe5420ba1c15f7d5825972d3a1',
  bedrock: 'a65399ebed1c70da31815e0d7eda8be728851a32b63d0e257f7816b46b5f5f2d',
};

type Snap = Record<string, { type: string; value: Record<string, string> }>;
/** The keys a trace added (redis.diff.json), i.e. the account that exchange created. */
const snap = (trace: string): Snap =>
  (JSON.parse(readFileSync(join(legacyTracesDir, trace, 'redis.diff.json'), 'utf8')) as { added: Snap }).added;
const firstHash = (s: Snap, prefix: string) => Object.entries(s).find(([k]) => k.startsWith(prefix))![1].value;

describe('account credential crypto', () => {
  const cipher = new AccountCipher(DEFAULT_KEY, scriptedIds(7));

  it('derives the ten documented keys', () => {
    for (const [kind, hex] of Object.entries(KEYS)) expect(cipher.keyFor(kind as never).toString('hex'), kind).toBe(hex);
    expect(Object.keys(ACCOUNT_SALTS)).toHaveLength(9);
  });

  it('encrypts the Claude vector byte for byte and decrypts it back', () => {
    const iv = Buffer.from('000102030405060708090a0b0c0d0e0f', 'hex');
    const stored = cipher.encrypt('claude', 'sk-ant-test', iv);
    expect(stored).toBe('000102030405060708090a0b0c0d0e0f:6183f424f21a976e77851a7ba44be906');
    expect(cipher.decrypt('claude', stored)).toBe('sk-ant-test');
    expect(cipher.encrypt('claude', '')).toBe('');
  });

  it('decrypts what the legacy stored in the recorded accounts (a4 console, a5 OAuth)', () => {
    const lab = new AccountCipher(LAB_KEY, scriptedIds(1));
    const oauth = firstHash(snap('a5-admin-create-oauth-account'), 'claude:account:');
    expect(lab.decrypt('claude', oauth.accessToken)).toBe('sk-ant-oat01-TRACE');
    expect(lab.decrypt('claude', oauth.refreshToken)).toBe('sk-ant-ort01-TRACE');
    expect(lab.decrypt('claude', oauth.claudeAiOauth)).toBe(
      '{"accessToken":"sk-ant-oat01-TRACE","refreshToken":"sk-ant-ort01-TRACE","expiresAt":4102444800000,"scopes":["user:inference"]}',
    );
    const consoleAcc = firstHash(snap('a4-admin-create-console-account'), 'claude_console_account:');
    expect(lab.decrypt('claude-console', consoleAcc.apiKey)).toBe('sk-ant-api03-TRACE');
  });

  it('round-trips every type with a fresh IV and keeps the iv:cipher shape', () => {
    for (const kind of Object.keys(ACCOUNT_SALTS) as Array<keyof typeof ACCOUNT_SALTS>) {
      const stored = cipher.encrypt(kind, `secret-${kind}-ünïcode`);
      expect(stored, kind).toMatch(/^[0-9a-f]{32}:([0-9a-f]{32})+$/);
      expect(cipher.decrypt(kind, stored), kind).toBe(`secret-${kind}-ünïcode`);
    }
  });

  it('fails like the legacy: passthrough for claude/console/ccr, empty string for the others', () => {
    const wrong = new AccountCipher('another-key', scriptedIds(2));
    const stored = cipher.encrypt('claude-console', 'x');
    expect(wrong.decrypt('claude-console', stored)).toBe(stored);
    expect(cipher.decrypt('claude', 'not-encrypted')).toBe('not-encrypted');
    expect(cipher.decrypt('claude', 'a:b:c')).toBe('a:b:c');
    expect(wrong.decrypt('openai', cipher.encrypt('openai', 'x'))).toBe('');
    expect(cipher.decrypt('openai', 'short:x')).toBe('');
    expect(cipher.decrypt('gemini', 'zz')).toBe('');
    expect(cipher.decrypt('azure-openai', `${'0'.repeat(32)}:`)).toBe('');
  });

  it('bedrock: {encrypted, iv} both ways, plaintext legacy credentials pass through, junk throws', () => {
    const creds = { accessKeyId: 'AKIA', secretAccessKey: 's', sessionToken: 't' };
    const blob = cipher.encryptBedrock(creds);
    expect(Object.keys(blob)).toEqual(['encrypted', 'iv']);
    expect(cipher.decryptBedrock(blob)).toEqual(creds);
    expect(cipher.decryptBedrock(creds)).toBe(creds);
    expect(() => cipher.decryptBedrock({ foo: 1 })).toThrow('Invalid AWS credentials format');
  });
});

describe('API-key hashing', () => {
  it('matches the documented vector and the recorded a3 key', () => {
    expect(hashApiKey(`cr_${'0'.repeat(64)}`, DEFAULT_KEY)).toBe('ed2cbdb470e2c5cf28c4338b11394e66263b509bf1b3a3f89b373ddf736bdf58');
    const req = JSON.parse(readFileSync(join(legacyTracesDir, '04-messages-nonstream-oauth-first', 'request.json'), 'utf8')) as {
      headers: Record<string, string>;
    };
    const after = JSON.parse(readFileSync(join(legacyTracesDir, '04-messages-nonstream-oauth-first', 'redis.before.json'), 'utf8')) as Snap;
    const map = after['apikey:hash_map']!.value;
    expect(map[hashApiKey(req.headers['x-api-key']!, LAB_KEY)]).toBeDefined();
  });

  it('generates prefix + 64 hex', () => {
    expect(generateRawApiKey(scriptedIds(3))).toMatch(/^cr_[0-9a-f]{64}$/);
  });
});
