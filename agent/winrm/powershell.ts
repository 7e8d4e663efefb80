import { parseXml, type XmlElement } from './xml.ts';
import type { CommandResult, WinrmShell } from './shell.ts';

/** cmd.exe refuses command lines past 8191 characters; leave room for the executable and flags. */
const MAX_ENCODED_LENGTH = 7800;

/**
 * Long scripts travel on stdin, run by this short command as ONE script block. `-Command -` would
 * read stdin like a console, line by line: a multi-line statement runs only after a blank line
 * and one left open at the end is dropped without an error (PowerShell/PowerShell#3223).
 * `exit N` inside the script ends powershell.exe with N; otherwise a failed last statement is 1.
 */
export const STDIN_BOOTSTRAP =
  '$s = [Console]::In.ReadToEnd(); & ([scriptblock]::Create($s)); if (-not $?) { exit 1 }; exit [int]$LASTEXITCODE';

export function encodePowerShell(script: string): string {
  return Buffer.from(script, 'utf16le').toString('base64');
}

/** PowerShell's `_xHHHH_` escapes in CLIXML strings (`_x000D__x000A_` is CRLF). */
function unescapeClixml(s: string): string {
  return s.replace(/_x([0-9A-Fa-f]{4})_/g, (_m, hex: string) => String.fromCharCode(parseInt(hex, 16)));
}

/**
 * Turns stderr that PowerShell wrote as `#< CLIXML` into the plain text of its error records,
 * dropping progress/verbose noise. Anything else is returned unchanged.
 */
export function cleanPowerShellStderr(stderr: string): string {
  const marker = '#< CLIXML';
  const at = stderr.indexOf(marker);
  if (at < 0) return stderr;
  const before = stderr.slice(0, at);
  const rest = stderr.slice(at + marker.length);
  const out: string[] = [];
  // Several CLIXML documents can follow one another; parse each <Objs> block separately.
  const re = /<Objs[\s\S]*?<\/Objs>/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(rest)) !== null) {
    let root: XmlElement;
    try {
      root = parseXml(m[0]);
    } catch {
      continue;
    }
    for (const s of root.children) {
      if (s.name === 'S' && s.attrs.S === 'Error') out.push(unescapeClixml(s.text));
    }
  }
  return (before + out.join('')).replace(/\r\n$/, '').trimEnd() + (out.length ? '\n' : '');
}

export interface PowerShellOptions {
  timeoutMs?: number;
  /** Force stdin delivery even for short scripts. */
  viaStdin?: boolean;
}

/** Runs a script with powershell.exe in an open shell: -EncodedCommand when it fits, stdin otherwise. */
export async function runPowerShellInShell(
  shell: WinrmShell,
  script: string,
  o: PowerShellOptions = {},
): Promise<CommandResult> {
  const full = `$ProgressPreference = 'SilentlyContinue'\r\n${script}`;
  const encoded = encodePowerShell(full);
  const base = ['-NoProfile', '-NonInteractive', '-ExecutionPolicy', 'Bypass'];
  let result: CommandResult;
  if (!o.viaStdin && encoded.length <= MAX_ENCODED_LENGTH) {
    const run: Parameters<WinrmShell['run']>[2] = {};
    if (o.timeoutMs !== undefined) run.timeoutMs = o.timeoutMs;
    result = await shell.run('powershell.exe', [...base, '-EncodedCommand', encoded], run);
  } else {
    const run: Parameters<WinrmShell['run']>[2] = { stdin: `${full.replace(/\r?\n/g, '\r\n')}\r\n` };
    if (o.timeoutMs !== undefined) run.timeoutMs = o.timeoutMs;
    result = await shell.run('powershell.exe', [...base, '-EncodedCommand', encodePowerShell(STDIN_BOOTSTRAP)], run);
  }
  return { ...result, stderr: cleanPowerShellStderr(result.stderr) };
}
