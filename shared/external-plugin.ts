import { z } from 'zod';

/**
 * The name of an executable the site's administrator installed in the agent's plugins folder
 * (`<home>/plugins/<name>`). A bare file name: no path separator, cannot be `.` or `..`.
 */
export const PLUGIN_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;
export const PluginName = z
  .string()
  .regex(
    PLUGIN_NAME_RE,
    "must be the name of a plugin installed in the agent's plugins folder (1-100 letters, digits, '.', '_' or '-'; no path)",
  );

/**
 * An `external` plugin's config, as the server stores it and the agent reads it. The server
 * names the plugin; the agent decides whether it runs (only what its plugins folder holds).
 */
export const ExternalPluginConfig = z
  .object({
    command: PluginName,
    args: z.array(z.string().max(4096)).max(200).default([]),
    timeout_ms: z.number().int().min(50).max(600_000).default(30_000),
    max_output_bytes: z
      .number()
      .int()
      .min(256)
      .max(16 * 1024 * 1024)
      .default(1024 * 1024),
  })
  .strict();
export type ExternalPluginConfig = z.infer<typeof ExternalPluginConfig>;
