// smtp-alert's config: keepalived's e-mail alerts. The config loader makes the section from
// global_defs (notification_email, smtp_server, ...) and the smtp_alert keywords
// (src/config/plugin-sections/smtp-alert.ts, keepalived's rules there); the user's own
// `plugins.smtp-alert` section adds what keepalived does not have: retries (keepalived tries
// once), STARTTLS and authentication.

import { z } from 'zod';
import { defaultRetry, retrySchema } from '../_shared/retry-schema.ts';

/** keepalived's DEFAULT_SMTP_CONNECTION_TIMEOUT, seconds. */
export const DEFAULT_TIMEOUT_S = 30;
/** keepalived's SMTP_PORT_STR. */
export const DEFAULT_PORT = 25;

/** Attempts in all unless configured: the first and three retries, after ~1, 2 and 4 s. */
export const DEFAULT_ATTEMPTS = 4;

export const virtualServerAlertsSchema = z
  .object({
    /** Mail on the virtual server's quorum changes. */
    alert: z.boolean(),
    /** Real servers (keepalived's names) that mail on their up/down. */
    real_servers: z.array(z.string().min(1)).default([]),
  })
  .strict();

export const configSchema = z
  .object({
    host: z.string().min(1),
    port: z.number().int().min(1).max(65535).default(DEFAULT_PORT),
    helo_name: z.string().min(1).default('localhost'),
    from: z.string().min(1),
    to: z.array(z.string().min(1)).min(1),
    router_id: z.string().min(1),
    /** smtp_connect_timeout: the connection and each reply. */
    timeout_ms: z.number().int().positive().default(DEFAULT_TIMEOUT_S * 1000),
    no_email_faults: z.boolean().default(false),
    instances: z.array(z.string().min(1)).default([]),
    groups: z.array(z.string().min(1)).default([]),
    /** By keepalived's virtual server name. */
    virtual_servers: z.record(z.string().min(1), virtualServerAlertsSchema).default({}),
    /** Bounded: a mail is given up after max_attempts (keepalived gives up after one). */
    retry: z
      .preprocess(
        // a retry section that tunes only the delays stays bounded
        (r) => (typeof r === 'object' && r !== null && !Array.isArray(r) && (r as { max_attempts?: unknown }).max_attempts === undefined ? { ...r, max_attempts: DEFAULT_ATTEMPTS } : r),
        retrySchema,
      )
      .refine((r) => r.max_attempts >= 1 && r.max_attempts <= 20, { message: 'max_attempts must be 1..20: a mail is given up in the end', path: ['max_attempts'] })
      .default(defaultRetry({ max_attempts: DEFAULT_ATTEMPTS })),
    starttls: z.boolean().default(false),
    auth: z.object({ user: z.string().min(1), pass: z.string() }).strict().optional(),
    queue_size: z.number().int().min(1).default(100),
  })
  .strict();

export type SmtpAlertConfig = z.infer<typeof configSchema>;
