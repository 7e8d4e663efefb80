import { z } from 'zod';
import { checkTarget, isIpv4 } from '../../shared/targets.ts';

export const Id = z.coerce.number().int().positive().max(2_147_483_647);
export const IdInput = z.object({ id: Id }).strict();
export const PageInput = z
  .object({
    limit: z.coerce.number().int().min(1).max(1000).default(100),
    offset: z.coerce.number().int().min(0).default(0),
  })
  .strict();
export const Name = z.string().trim().min(1, 'must not be empty').max(100, 'must be at most 100 characters');
export const Port = z.coerce
  .number()
  .int()
  .min(1, 'must be between 1 and 65535')
  .max(65535, 'must be between 1 and 65535');
export const PollingInterval = z.coerce
  .number()
  .int()
  .min(10, 'must be at least 10 seconds')
  .max(86400, 'must be at most 86400 seconds (1 day)');
export const Ipv4 = z.string().trim().refine(isIpv4, 'must be a valid IPv4 address');
export const Target = z
  .string()
  .trim()
  .max(20000)
  .superRefine((v, ctx) => {
    const r = checkTarget(v);
    if (!r.ok) ctx.addIssue({ code: 'custom', message: r.reason });
  });
export const Fingerprint = z
  .string()
  .trim()
  .refine(
    (v) => /^[0-9a-f]{64}$/i.test(v.replace(/[:\s]/g, '')),
    'must be a SHA-256 fingerprint (64 hex digits, colons allowed)',
  );
