import type { NotificationData, PayloadTime } from './payloads.js';
import { DETAIL_LABEL, details, titleOf } from './payloads.js';
import { zhLocalTime } from './legacy-time.js';
import type { WebhookPlatform } from './webhook-config.js';

/**
 * The legacy webhook service's SMTP notification (sendToSMTP): the transport options it gives nodemailer, the
 * mail (from, to, subject) and its text and HTML bodies (formatMessageForEmailText / formatMessageForEmail),
 * as pure functions of the platform config, the notification and the time.
 */

export interface EmailContent {
  subject: string;
  text: string;
  html: string;
}

/** getStatusColor */
const STATUS_COLORS: Record<string, string> = { error: '#dc3545', unauthorized: '#fd7e14', blocked: '#6f42c1', disabled: '#6c757d', active: '#28a745', warning: '#ffc107' };

export function emailContent(type: string, d: NotificationData, t: PayloadTime): EmailContent {
  const title = titleOf(type);
  const timestamp = zhLocalTime(t.nowMs, t.timeZone);
  const rows = details(d);
  let text = `${title}\n=====================================\n\n`;
  for (const r of rows) text += `${DETAIL_LABEL[r.key]}: ${r.value}\n`;
  text += `\n发送时间: ${timestamp}\n服务: Claude Relay Service\n=====================================\n此邮件由系统自动发送，请勿回复。`;

  let html = `
      <div style="max-width: 600px; margin: 0 auto; font-family: Arial, sans-serif;">
        <div style="background: linear-gradient(135deg, #667eea 0%, #764ba2 100%); color: white; padding: 20px; border-radius: 8px 8px 0 0;">
          <h1 style="margin: 0; font-size: 24px;">${title}</h1>
          <p style="margin: 10px 0 0 0; opacity: 0.9;">Claude Relay Service</p>
        </div>
        <div style="background: #f8f9fa; padding: 20px; border: 1px solid #e9ecef; border-top: none; border-radius: 0 0 8px 8px;">
          <div style="background: white; padding: 16px; border-radius: 6px; box-shadow: 0 2px 4px rgba(0,0,0,0.1);">
    `;
  for (const r of rows) {
    const label = DETAIL_LABEL[r.key];
    if (r.key === 'errorCode') html += `<p><strong>${label}:</strong> <code style="background: #f1f3f4; padding: 2px 6px; border-radius: 4px;">${r.value}</code></p>`;
    else if (r.key === 'status') html += `<p><strong>${label}:</strong> <span style="color: ${STATUS_COLORS[r.value] ?? '#007bff'};">${r.value}</span></p>`;
    else html += `<p><strong>${label}:</strong> ${r.value}</p>`;
  }
  html += `
          </div>
          <div style="margin-top: 20px; padding-top: 16px; border-top: 1px solid #e9ecef; font-size: 14px; color: #6c757d; text-align: center;">
            <p>发送时间: ${timestamp}</p>
            <p style="margin: 0;">此邮件由 Claude Relay Service 自动发送</p>
          </div>
        </div>
      </div>
    `;
  return { subject: `[Claude Relay Service] ${title}`, text, html };
}

/** nodemailer.createTransport options, as the legacy builds them from the platform. */
export function smtpTransport(p: WebhookPlatform): Record<string, unknown> {
  return {
    host: p['host'],
    port: p['port'] || 587,
    secure: p['secure'] || false,
    auth: { user: p['user'], pass: p['pass'] },
    tls: p['ignoreTLS'] ? { rejectUnauthorized: false } : undefined,
    connectionTimeout: p['timeout'] || 10000,
  };
}

/** The sendMail options: `from` falls back to the SMTP user. */
export function smtpMail(p: WebhookPlatform, c: EmailContent): Record<string, unknown> {
  return { from: p['from'] || p['user'], to: p['to'], subject: c.subject, text: c.text, html: c.html };
}

/** One attempt: a transport per attempt, as the legacy makes one per send (nodemailer is loaded on first use). */
export async function sendEmail(p: WebhookPlatform, c: EmailContent): Promise<void> {
  const nodemailer = (await import('nodemailer')).default;
  const transport = nodemailer.createTransport(smtpTransport(p));
  try {
    await transport.sendMail(smtpMail(p, c));
  } finally {
    transport.close();
  }
}
