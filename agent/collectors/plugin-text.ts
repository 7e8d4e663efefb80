/*
 * What of a plugin's own output may reach the server (and so a monitor's last_error): one line,
 * printable characters only, at most `max` characters, with the job's password removed.
 *
 * What this guarantees: no second line, no control or invisible formatting characters, a bounded
 * length, and no run of FRAGMENT or more consecutive characters of the password, forwards or
 * backwards, in any letter case (such a line is withheld whole, not patched: a patched line shows
 * where the password was). What it cannot: a plugin reads the password on stdin and may encode it
 * any other way (hex, shorter pieces over many runs, its exit code, metric values, its own network
 * connections). Against a hostile plugin the defence is that only the site administrator decides
 * which plugins run (plugin-folder.ts); this is against the honest plugin that echoes its input.
 */

const FRAGMENT = 4;

/** The forms a plugin may echo the password in: as is, JSON-escaped, \u-escaped (either hex case), base64. */
function secretForms(secret: string): string[] {
  const json = JSON.stringify(secret).slice(1, -1);
  const ascii = json.replace(/[\u0080-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  const upper = ascii.replace(/\\u[0-9a-f]{4}/g, (u) => `\\u${u.slice(2).toUpperCase()}`);
  const forms = [secret, json, ascii, upper, Buffer.from(secret, 'utf8').toString('base64')];
  return [...new Set(forms)].filter((f) => f.length > 0).sort((a, b) => b.length - a.length);
}

function reversed(s: string): string {
  return [...s].reverse().join('');
}

/** True when `text` holds FRAGMENT or more consecutive characters of the secret, either way round, any case. */
function resemblesSecret(text: string, secret: string): boolean {
  const hay = text.toLowerCase();
  const k = Math.min(FRAGMENT, [...secret].length);
  for (const s of [secret.toLowerCase(), reversed(secret.toLowerCase())]) {
    const cps = [...s];
    for (let i = 0; i + k <= cps.length; i++) if (hay.includes(cps.slice(i, i + k).join(''))) return true;
  }
  return false;
}

// Cc control, Cf format (bidi overrides, zero-width), Co private use, Cn unassigned, Zl/Zp separators.
const UNPRINTABLE = /[\p{Cc}\p{Cf}\p{Co}\p{Cn}\p{Zl}\p{Zp}]/gu;

/** One line of a plugin's text, safe to send to the server; '' when there is nothing to say. */
export function summarisePluginText(text: string, secret: string | undefined, max: number): string {
  let line = text.split(/\r\n|\r|\n/).find((l) => l.trim() !== '') ?? '';
  if (secret) for (const form of secretForms(secret)) line = line.split(form).join('***');
  line = line.replace(UNPRINTABLE, ' ').replace(/\s+/g, ' ').trim();
  const cps = [...line];
  if (cps.length > max) line = `${cps.slice(0, max).join('')}…`;
  if (secret && resemblesSecret(line.split('***').join(' '), secret)) return '(withheld: it resembled the credential)';
  return line;
}
