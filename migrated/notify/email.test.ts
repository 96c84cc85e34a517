import { describe, expect, it } from 'vitest';
import { emailContent, smtpMail, smtpTransport } from './email.js';

const data = { accountId: 'a1', accountName: 'Console A', platform: 'claude-console', status: 'blocked', errorCode: 'CLAUDE_CONSOLE_BLOCKED', timestamp: 't' };
const time = { nowMs: Date.parse('2026-11-26T11:52:04.000Z'), offsetHours: 8, timeZone: 'Asia/Shanghai' };

describe('SMTP notification (the legacy sendToSMTP)', () => {
  it('transport: port 587, not secure, connection timeout 10 s unless set; ignoreTLS accepts any certificate', () => {
    expect(smtpTransport({ type: 'smtp', host: 'mail', user: 'u', pass: 'p' } as never)).toEqual({ host: 'mail', port: 587, secure: false, auth: { user: 'u', pass: 'p' }, tls: undefined, connectionTimeout: 10000 });
    expect(smtpTransport({ type: 'smtp', host: 'mail', port: 465, secure: true, ignoreTLS: true, timeout: 3000 } as never)).toMatchObject({ port: 465, secure: true, tls: { rejectUnauthorized: false }, connectionTimeout: 3000 });
  });

  it('mail: from falls back to the SMTP user; subject is the title with the service prefix', () => {
    const c = emailContent('accountAnomaly', data, time);
    expect(smtpMail({ type: 'smtp', user: 'u@x', to: 'ops@x' } as never, c)).toMatchObject({ from: 'u@x', to: 'ops@x', subject: '[Claude Relay Service] ⚠️ 账号异常通知' });
    expect(smtpMail({ type: 'smtp', user: 'u@x', from: 'relay@x', to: 'ops@x' } as never, c)).toMatchObject({ from: 'relay@x' });
  });

  it('bodies: rows present only, status colour by status (blocked: #6f42c1), the error code as code, zh-CN send time', () => {
    const c = emailContent('accountAnomaly', data, time);
    const when = new Date(time.nowMs).toLocaleString('zh-CN', { timeZone: 'Asia/Shanghai' });
    expect(c.text).toBe(`⚠️ 账号异常通知\n=====================================\n\n账号: Console A\n平台: claude-console\n状态: blocked\n错误代码: CLAUDE_CONSOLE_BLOCKED\n\n发送时间: ${when}\n服务: Claude Relay Service\n=====================================\n此邮件由系统自动发送，请勿回复。`);
    expect(c.html).toContain('<p><strong>账号:</strong> Console A</p><p><strong>平台:</strong> claude-console</p><p><strong>状态:</strong> <span style="color: #6f42c1;">blocked</span></p>');
    expect(c.html).not.toContain('原因');
    expect(c.html).toContain(`<p>发送时间: ${when}</p>`);
    expect(emailContent('quotaWarning', { ...data, status: 'odd' }, time).html).toContain('<span style="color: #007bff;">odd</span>');
  });
});
