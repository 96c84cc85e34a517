import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { legacyTracesDir } from '../../test-support/paths.js';
import { scriptedIds } from '../runtime/ids.js';
import { bcryptBase64Decode, bcryptBase64Encode, bcryptHash, hashPassword, piState, verifyPassword } from './bcrypt.js';

describe('bcrypt', () => {
  it('derives Blowfish initial state from pi (known first P and S words)', () => {
    const s = piState();
    expect(s[0]!.toString(16)).toBe('243f6a88');
    expect(s[17]!.toString(16)).toBe('8979fb1b');
    expect(s[18]!.toString(16)).toBe('d1310ba6'); // S0[0]
    expect(s[18 + 1023]!.toString(16)).toBe('3ac372e6'); // S3[255]
  });

  it('verifies the admin password hash the legacy stored (exchange a1)', () => {
    const snap = JSON.parse(readFileSync(join(legacyTracesDir, 'a1-admin-login', 'redis.after.json'), 'utf8')) as Record<string, { value: Record<string, string> }>;
    const stored = snap['session:admin_credentials']!.value.passwordHash!;
    const body = JSON.parse(readFileSync(join(legacyTracesDir, 'a1-admin-login', 'request.body'), 'utf8')) as { password: string };
    expect(verifyPassword(body.password, stored)).toBe(true);
    expect(verifyPassword(`${body.password}x`, stored)).toBe(false);
  });

  it('matches the classic $2a$ vectors and round-trips with a fresh salt', () => {
    expect(verifyPassword('U*U', '$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW')).toBe(true);
    expect(verifyPassword('U*U*', '$2a$05$CCCCCCCCCCCCCCCCCCCCC.VGOzA784oUp/Z0DY336zx7pLYAy0lwK')).toBe(true);
    const h = hashPassword('pässwörd', scriptedIds(9), 4);
    expect(h).toMatch(/^\$2a\$04\$[./A-Za-z0-9]{53}$/);
    expect(verifyPassword('pässwörd', h)).toBe(true);
    expect(verifyPassword('whatever', 'not-a-hash')).toBe(false);
    const salt = bcryptBase64Decode('CCCCCCCCCCCCCCCCCCCCC.', 16);
    expect(bcryptBase64Encode(salt, 16)).toBe('CCCCCCCCCCCCCCCCCCCCC.');
    expect(bcryptHash('U*U', salt, 5)).toBe('$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW');
  });
});
