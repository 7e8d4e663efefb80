import { eq } from 'drizzle-orm';
import type { Db } from '../db/client.ts';
import { credentialProfiles, discoveryProfiles, monitors } from '../db/schema.ts';
import { AppError, notFound } from '../errors.ts';
import type { EventBus } from '../events.ts';
import type { Vault } from '../vault/credentials.ts';
import { auditChanges, recordAudit } from '../audit/audit-log.ts';
import {
  iso,
  mapDbError,
  type Page,
  updateAudited,
  createAudited,
  rowById,
  listPage,
  definedFields,
  refuseInUse,
} from './common.ts';

export interface CredentialProfileInput {
  name: string;
  type: 'winrm_basic' | 'winrm_ntlm';
  username: string;
  password: string;
  domain?: string | null | undefined;
  port?: number | undefined;
  use_ssl?: boolean | undefined;
  tls_verify?: 'verify' | 'pin' | 'insecure' | undefined;
  tls_fingerprint?: string | null | undefined;
}

type Row = typeof credentialProfiles.$inferSelect;

/** Never includes the password, encrypted or not. */
const toApi = (r: Row) => ({
  id: r.id,
  name: r.name,
  type: r.type,
  username: r.username,
  domain: r.domain,
  port: r.port,
  use_ssl: r.use_ssl,
  tls_verify: r.tls_verify,
  tls_fingerprint: r.tls_fingerprint,
  version: r.version,
  created_at: iso(r.created_at)!,
  updated_at: iso(r.updated_at)!,
});
export type CredentialProfile = ReturnType<typeof toApi>;

const normalizeFp = (fp: string | null | undefined) => (fp ? fp.replace(/[^0-9a-f]/gi, '').toLowerCase() : null);

function checkTls(p: { tls_verify?: string | undefined; tls_fingerprint?: string | null | undefined }): void {
  if (p.tls_verify === 'pin' && !p.tls_fingerprint)
    throw new AppError('VALIDATION_ERROR', 'tls_fingerprint: required when tls_verify is pin', {
      field: 'tls_fingerprint',
    });
}

export function createCredentialProfileService(db: Db, vault: Vault, events: EventBus) {
  const get = (id: number): Promise<Row> => rowById(db, credentialProfiles, id, 'Credential Profile');
  return {
    list: async (page: Page) => (await listPage(db, credentialProfiles, page)).map(toApi),
    get: async (id: number) => toApi(await get(id)),
    /** For sealing to an agent: the decrypted credential, used and dropped. */
    async reveal(id: number) {
      const r = await get(id);
      return { row: r, password: vault.decrypt(r.password_enc) };
    },
    async create(p: CredentialProfileInput) {
      checkTls(p);
      const useSsl = p.use_ssl ?? false;
      try {
        // toApi(r) carries no password: the allow-list would drop it anyway.
        const r = await createAudited(
          db,
          credentialProfiles,
          {
            name: p.name,
            type: p.type,
            username: p.username,
            password_enc: vault.encrypt(p.password),
            key_id: vault.keyId,
            domain: p.domain ?? null,
            port: p.port ?? (useSsl ? 5986 : 5985),
            use_ssl: useSsl,
            tls_verify: p.tls_verify ?? 'verify',
            tls_fingerprint: normalizeFp(p.tls_fingerprint),
          },
          'credential_profile',
          (r) => auditChanges('credential_profile', null, toApi(r), ['password']),
        );
        return toApi(r);
      } catch (err) {
        mapDbError(err, 'a Credential Profile with this name');
      }
    },
    async update(id: number, p: Partial<CredentialProfileInput>) {
      const cur = await get(id);
      checkTls({
        tls_verify: p.tls_verify ?? cur.tls_verify,
        tls_fingerprint: p.tls_fingerprint === undefined ? cur.tls_fingerprint : p.tls_fingerprint,
      });
      const set: Partial<typeof credentialProfiles.$inferInsert> = {
        ...definedFields(p, ['name', 'type', 'username', 'domain', 'port', 'use_ssl', 'tls_verify']),
        updated_at: new Date(),
        version: cur.version + 1,
      };
      if (p.password !== undefined) {
        set.password_enc = vault.encrypt(p.password);
        set.key_id = vault.keyId;
      }
      if (p.tls_fingerprint !== undefined) set.tls_fingerprint = normalizeFp(p.tls_fingerprint);
      try {
        const r = await updateAudited(db, credentialProfiles, id, set, 'credential_profile', (r) =>
          auditChanges('credential_profile', toApi(cur), toApi(r), p.password !== undefined ? ['password'] : []),
        );
        if (!r) throw notFound('Credential Profile', id);
        events.emit('credential.changed', { id, version: r!.version });
        return toApi(r!);
      } catch (err) {
        mapDbError(err, 'a Credential Profile with this name');
      }
    },
    /** Refused while any monitor or discovery profile uses it (README: deletion rules). */
    async remove(id: number) {
      const cur = await get(id);
      await db.transaction(async (tx) => {
        await refuseInUse(tx, 'Credential Profile', monitors.credential_profile_id, id);
        await refuseInUse(tx, 'Credential Profile', discoveryProfiles.credential_profile_id, id);
        await tx.delete(credentialProfiles).where(eq(credentialProfiles.id, id));
        await recordAudit(tx, {
          entity_type: 'credential_profile',
          entity_id: id,
          action: 'delete',
          changes: auditChanges('credential_profile', toApi(cur), null),
        });
      });
      events.emit('credential.changed', { id, version: -1, deleted: true });
    },
  };
}
export type CredentialProfileService = ReturnType<typeof createCredentialProfileService>;
