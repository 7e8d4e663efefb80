import { z } from 'zod';
import { authedProcedure, router } from '../trpc.ts';
import { Fingerprint, Id, IdInput, Name, PageInput, Port } from '../schemas.ts';

const Fields = {
  name: Name,
  type: z.enum(['winrm_basic', 'winrm_ntlm']),
  username: z.string().trim().min(1).max(256),
  password: z.string().min(1, 'must not be empty').max(1024),
  domain: z.string().trim().max(256).nullable().optional(),
  port: Port.optional(),
  use_ssl: z.boolean().optional(),
  tls_verify: z.enum(['verify', 'pin', 'insecure']).optional(),
  tls_fingerprint: Fingerprint.nullable().optional(),
};
export const CredentialProfileCreate = z.object(Fields).strict();
export const CredentialProfileUpdate = CredentialProfileCreate.partial().extend({ id: Id }).strict();
export const CredentialProfileOutput = z.object({
  id: z.number(),
  name: z.string(),
  type: z.enum(['winrm_basic', 'winrm_ntlm']),
  username: z.string(),
  domain: z.string().nullable(),
  port: z.number(),
  use_ssl: z.boolean(),
  tls_verify: z.enum(['verify', 'pin', 'insecure']),
  tls_fingerprint: z.string().nullable(),
  version: z.number(),
  created_at: z.string(),
  updated_at: z.string(),
});

const tags = ['credential-profiles'];
export const credentialProfilesRouter = router({
  list: authedProcedure
    .meta({
      openapi: {
        method: 'GET',
        path: '/credential-profiles',
        tags,
        summary: 'List credential profiles (never with passwords)',
      },
    })
    .input(PageInput)
    .output(z.array(CredentialProfileOutput))
    .query(({ ctx, input }) => ctx.services.credentialProfiles.list(input)),
  get: authedProcedure
    .meta({
      openapi: {
        method: 'GET',
        path: '/credential-profiles/{id}',
        tags,
        summary: 'Get one credential profile (the password is never returned)',
      },
    })
    .input(IdInput)
    .output(CredentialProfileOutput)
    .query(({ ctx, input }) => ctx.services.credentialProfiles.get(input.id)),
  create: authedProcedure
    .meta({
      status: 201,
      openapi: {
        method: 'POST',
        path: '/credential-profiles',
        tags,
        summary: 'Create a credential profile (the password is stored encrypted)',
        successDescription: 'Created',
      },
    })
    .input(CredentialProfileCreate)
    .output(CredentialProfileOutput)
    .mutation(({ ctx, input }) => ctx.services.credentialProfiles.create(input)),
  update: authedProcedure
    .meta({
      openapi: {
        method: 'PUT',
        path: '/credential-profiles/{id}',
        tags,
        summary: 'Update a credential profile; omit password to keep it',
      },
    })
    .input(CredentialProfileUpdate)
    .output(CredentialProfileOutput)
    .mutation(({ ctx, input: { id, ...rest } }) => ctx.services.credentialProfiles.update(id, rest)),
  delete: authedProcedure
    .meta({
      status: 204,
      openapi: {
        method: 'DELETE',
        path: '/credential-profiles/{id}',
        tags,
        summary: 'Delete (refused while monitors or discovery profiles use it)',
      },
    })
    .input(IdInput)
    .output(z.void())
    .mutation(async ({ ctx, input }) => {
      await ctx.services.credentialProfiles.remove(input.id);
    }),
});
