// What a simulated host's cmd.exe and powershell.exe answer. Deliberately tiny: hostname, echo, exit,
// Start-Sleep, Write-Error and the agent's metrics script; anything else fails the way Windows does.

export interface CommandContext {
  hostname: string;
  /** The marker the agent's metrics script carries (agent/winrm/metrics-script.ts). */
  metricsMarker: string;
  metricsJson(): string;
}

export interface CommandResult {
  stdout: string;
  stderr: string;
  exitCode: number;
  /** How long the command runs before its output is ready. */
  delayMs: number;
}

/** Either a result, or the command waits for its script on stdin (`powershell -`). */
export type CommandStart =
  | { kind: 'done'; result: CommandResult }
  | { kind: 'stdin'; run(stdin: string): CommandResult };

const notRecognizedCmd = (name: string): CommandResult => ({
  stdout: '',
  stderr: `'${name}' is not recognized as an internal or external command,\r\noperable program or batch file.\r\n`,
  exitCode: 1,
  delayMs: 0,
});

/**
 * The executables on the simulated disk, by lower-cased full path. Without cmd.exe (WINRS_SKIP_CMD_SHELL)
 * WinRS hands the Command to CreateProcess as the application name: no PATH search and no default
 * extension, so only a path that names one of these files starts a program.
 */
const PROGRAMS = new Map<string, 'cmd' | 'hostname' | 'powershell'>([
  ['c:\\windows\\system32\\cmd.exe', 'cmd'],
  ['c:\\windows\\syswow64\\cmd.exe', 'cmd'],
  ['c:\\windows\\system32\\hostname.exe', 'hostname'],
  ['c:\\windows\\syswow64\\hostname.exe', 'hostname'],
  ['c:\\windows\\system32\\windowspowershell\\v1.0\\powershell.exe', 'powershell'],
  ['c:\\windows\\syswow64\\windowspowershell\\v1.0\\powershell.exe', 'powershell'],
]);

/**
 * A file name as CreateProcess's lpApplicationName resolves it: absolute (`C:\x`), drive-rooted (`\x`) or
 * relative to `cwd`, `.`/`..` collapsed, compared case-insensitively. Lower-cased full path, or undefined
 * for names that cannot be a local file (UNC, device or other drive-relative forms).
 */
export function resolveApplicationPath(name: string, cwd: string): string | undefined {
  const p = name.replace(/\//g, '\\');
  const base = cwd.replace(/\//g, '\\').replace(/\\+$/, '');
  let full: string;
  if (/^[a-z]:\\/i.test(p)) full = p;
  else if (/^[a-z]:/i.test(p)) {
    if (p.slice(0, 2).toLowerCase() !== base.slice(0, 2).toLowerCase()) return undefined;
    full = `${base}\\${p.slice(2)}`;
  } else if (p.startsWith('\\\\')) return undefined;
  else if (p.startsWith('\\')) full = `${base.slice(0, 2)}${p}`;
  else full = `${base}\\${p}`;
  const [drive, ...rest] = full.split('\\');
  const parts: string[] = [];
  for (const part of rest) {
    if (part === '' || part === '.') continue;
    if (part === '..') parts.pop();
    else parts.push(part);
  }
  return [drive, ...parts].join('\\').toLowerCase();
}

/**
 * Starts `application` directly, the way WinRS does with WINRS_SKIP_CMD_SHELL=TRUE (no cmd.exe, so no
 * builtins, no PATH search). Null when the file does not exist: Windows answers that Command with fault
 * 2147942402 "The system cannot find the file specified."
 */
export function startExecutable(
  application: string,
  args: string[],
  cwd: string,
  ctx: CommandContext,
): CommandStart | null {
  const path = resolveApplicationPath(application.trim(), cwd);
  const program = path === undefined ? undefined : PROGRAMS.get(path);
  if (!program) return null;
  const rest = args.join(' ');
  switch (program) {
    case 'cmd':
      return startCommand(`cmd ${rest}`, ctx);
    case 'hostname':
      return { kind: 'done', result: runCmdBuiltin('hostname', ctx) };
    case 'powershell':
      return startPowerShell(splitWords(rest), ctx);
  }
}

/** Splits a command line the way cmd hands words to programs: whitespace, double quotes group. */
export function splitWords(line: string): string[] {
  const words: string[] = [];
  const re = /"([^"]*)"|(\S+)/g;
  for (let m = re.exec(line); m; m = re.exec(line)) words.push(m[1] ?? m[2]!);
  return words;
}

export function startCommand(commandLine: string, ctx: CommandContext): CommandStart {
  const line = commandLine.trim();
  const words = splitWords(line);
  const first = (words[0] ?? '').toLowerCase();
  if (first === 'cmd' || first === 'cmd.exe') {
    const c = words.findIndex((w) => /^\/[ck]$/i.test(w));
    if (c < 0) return { kind: 'done', result: { stdout: '', stderr: '', exitCode: 0, delayMs: 0 } };
    const rest = line.slice(line.toLowerCase().indexOf(words[c]!.toLowerCase(), first.length) + 2);
    return startCommand(rest, ctx);
  }
  if (/^(powershell|pwsh)(\.exe)?$/.test(first)) return startPowerShell(words.slice(1), ctx);
  return { kind: 'done', result: runCmdBuiltin(line, ctx) };
}

function runCmdBuiltin(line: string, ctx: CommandContext): CommandResult {
  const m = /^(\S+)\s?([\s\S]*)$/.exec(line);
  if (!m) return { stdout: '', stderr: '', exitCode: 0, delayMs: 0 };
  const name = m[1]!;
  const rest = m[2] ?? '';
  switch (name.toLowerCase()) {
    case 'hostname':
    case 'hostname.exe':
      return { stdout: `${ctx.hostname}\r\n`, stderr: '', exitCode: 0, delayMs: 0 };
    case 'echo':
      return { stdout: rest.trim() === '' ? 'ECHO is on.\r\n' : `${rest}\r\n`, stderr: '', exitCode: 0, delayMs: 0 };
    case 'exit': {
      const code = /^(?:\/b\s+)?(-?\d+)/i.exec(rest.trim());
      return { stdout: '', stderr: '', exitCode: code ? Number(code[1]) >>> 0 : 0, delayMs: 0 };
    }
    default:
      return notRecognizedCmd(name);
  }
}

const PS_VALUE_FLAGS = new Set([
  '-executionpolicy',
  '-ep',
  '-inputformat',
  '-outputformat',
  '-windowstyle',
  '-configurationname',
  '-version',
]);

function startPowerShell(args: string[], ctx: CommandContext): CommandStart {
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!.toLowerCase();
    if (a === '-encodedcommand' || a === '-enc' || a === '-e' || a === '-ec') {
      const script = Buffer.from(args[i + 1] ?? '', 'base64').toString('utf16le');
      // A script that reads all of stdin and runs it as one script block (the agent's long-script path).
      if (/\[Console\]::In\.ReadToEnd\(\)/i.test(script) && /\[scriptblock\]::Create/i.test(script)) {
        return { kind: 'stdin', run: (stdin) => runPowerShellScript(stdin, ctx) };
      }
      return { kind: 'done', result: runPowerShellScript(script, ctx) };
    }
    if (a === '-command' || a === '-c') {
      const rest = args.slice(i + 1).join(' ');
      if (rest === '-') return { kind: 'stdin', run: (stdin) => runPowerShellStdin(stdin, ctx) };
      return { kind: 'done', result: runPowerShellScript(rest, ctx) };
    }
    if (a === '-') return { kind: 'stdin', run: (stdin) => runPowerShellStdin(stdin, ctx) };
    if (PS_VALUE_FLAGS.has(a)) i++;
    else if (!a.startsWith('-')) return { kind: 'done', result: runPowerShellScript(args.slice(i).join(' '), ctx) };
  }
  return { kind: 'stdin', run: (stdin) => runPowerShellStdin(stdin, ctx) };
}

/**
 * The console width powershell.exe formats for when WinRS runs it (80 columns): the error view cuts its
 * `+ CategoryInfo` / `+ FullyQualifiedErrorId` texts into width-4-2 pieces, and the host then writes
 * every line in pieces of width-1 characters, each ending in CRLF.
 */
const PS_BUFFER_WIDTH = 80;

/** A string as PowerShell's serializer writes it inside <S>: XML text escapes plus `_xHHHH_` for control characters. */
function clixmlText(text: string): string {
  return text
    .replace(/_x/g, '_x005F_x')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/[\x00-\x1f]/g, (c) => `_x${c.charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')}_`);
}

/** stderr of a powershell.exe whose error records were serialized (`#< CLIXML`), one <S S="Error"> per written line. */
function clixmlErrors(lines: string[]): string {
  if (lines.length === 0) return '';
  const records = lines.map((l) => `<S S="Error">${clixmlText(`${l}\r\n`)}</S>`).join('');
  return `#< CLIXML\r\n<Objs Version="1.1.0.1" xmlns="http://schemas.microsoft.com/powershell/2004/04">${records}</Objs>`;
}

/** Cuts `text` into pieces of at most `width` characters (an empty text stays one empty piece). */
function cut(text: string, width: number): string[] {
  if (text === '') return [''];
  const out: string[] = [];
  for (let i = 0; i < text.length; i += width) out.push(text.slice(i, i + width));
  return out;
}

/**
 * PowerShell 3-5's default error view for a non-terminating error record written by a command-line
 * script (no position message there): `<script text> : <message>`, the CategoryInfo and
 * FullyQualifiedErrorId lines, and a closing " " line; then cut to the console width as the host writes it.
 */
function errorRecordLines(invocation: string, message: string, categoryInfo: string, errorId: string): string[] {
  const indent = 4;
  const width = PS_BUFFER_WIDTH - indent - 2;
  const block = (label: string) =>
    cut(label, width)
      .map((piece) => ' '.repeat(indent) + piece)
      .join('');
  const text = `${invocation} : ${message}\n${block(`+ CategoryInfo          : ${categoryInfo}`)}\n${block(`+ FullyQualifiedErrorId : ${errorId}`)}\n `;
  return text.split(/\r?\n/).flatMap((line) => cut(line, PS_BUFFER_WIDTH - 1));
}

/** One PowerShell string literal ('…', "…" without `$` expansion, or a bare word); undefined otherwise. */
function psStringLiteral(text: string): string | undefined {
  const t = text.trim();
  let m: RegExpExecArray | null;
  if ((m = /^'((?:[^']|'')*)'$/.exec(t))) return m[1]!.replace(/''/g, "'");
  if ((m = /^"((?:[^"`$]|`[\s\S]|"")*)"$/.exec(t))) {
    const escapes: Record<string, string> = {
      n: '\n',
      r: '\r',
      t: '\t',
      '0': '\0',
      a: '\x07',
      b: '\b',
      f: '\f',
      v: '\v',
    };
    return m[1]!.replace(/""/g, '"').replace(/`([\s\S])/g, (_x, c: string) => escapes[c] ?? c);
  }
  if (/^[^\s'"`$(){};,|&<>@#]+$/.test(t)) return t;
  return undefined;
}

/** Splits a script into statements at `;` and line ends outside quotes; comments and blanks dropped. */
function psStatements(script: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quote: string | null = null;
  for (let i = 0; i < script.length; i++) {
    const c = script[i]!;
    if (quote) {
      cur += c;
      if (c === '`' && quote === '"' && i + 1 < script.length) cur += script[++i];
      else if (c === quote) quote = null;
    } else if (c === ';' || c === '\r' || c === '\n') {
      out.push(cur);
      cur = '';
    } else {
      if (c === '"' || c === "'") quote = c;
      cur += c;
    }
  }
  out.push(cur);
  return out.map((s) => s.trim()).filter((s) => s !== '' && !s.startsWith('#'));
}

interface PsSession {
  stdout: string;
  errors: string[];
  delayMs: number;
  /** $? of the last statement: powershell.exe -Command exits 1 when it is false, else 0. */
  lastFailed: boolean;
}

/** Runs one command-line script (`invocation` is its text, as error records name it); a number = `exit N`. */
function runScriptIn(session: PsSession, script: string, ctx: CommandContext): number | undefined {
  for (const st of psStatements(script)) {
    let m: RegExpExecArray | null;
    let text: string | undefined;
    if (/^\$\w+\s*=/.test(st)) session.lastFailed = false;
    else if (/^(hostname|\$env:computername)$/i.test(st)) {
      session.stdout += `${ctx.hostname}\r\n`;
      session.lastFailed = false;
    } else if ((m = /^(?:write-output|write-host|echo)\s+([\s\S]*)$/i.exec(st))) {
      session.stdout += `${unquote(m[1]!)}\n`;
      session.lastFailed = false;
    } else if ((m = /^exit(?:\s+(-?\d+))?$/i.exec(st))) return Number(m[1] ?? 0) >>> 0;
    else if ((m = /^start-sleep(?:\s+-(s|seconds|m|milliseconds))?\s+(\d+(?:\.\d+)?)$/i.exec(st))) {
      session.delayMs += Number(m[2]) * (m[1]?.toLowerCase().startsWith('m') ? 1 : 1000);
      session.lastFailed = false;
    } else if (
      (m = /^write-error(?:\s+-m(?:e(?:s(?:s(?:a(?:g(?:e)?)?)?)?)?)?)?\s+([\s\S]+)$/i.exec(st)) &&
      (text = psStringLiteral(m[1]!)) !== undefined
    ) {
      // Non-terminating: the record goes to the error stream and the script carries on.
      session.errors.push(
        ...errorRecordLines(
          script,
          text,
          'NotSpecified: (:) [Write-Error], WriteErrorException',
          'Microsoft.PowerShell.Commands.WriteErrorException',
        ),
      );
      session.lastFailed = true;
    } else {
      const word = st.split(/\s+/)[0]!;
      session.errors.push(
        `${word} : The term '${word}' is not recognized as the name of a cmdlet, function, script file, or operable program. Check the spelling of the name, or if a path was included, verify that the path is correct and try again.`,
      );
      return 1;
    }
  }
  return undefined;
}

function finish(session: PsSession, exitCode: number | undefined): CommandResult {
  return {
    stdout: session.stdout,
    stderr: clixmlErrors(session.errors),
    exitCode: exitCode ?? (session.lastFailed ? 1 : 0),
    delayMs: session.delayMs,
  };
}

/** `powershell -EncodedCommand|-Command <script>`: the statements this host understands; an unknown one ends the run with exit 1. */
export function runPowerShellScript(script: string, ctx: CommandContext): CommandResult {
  if (script.includes(ctx.metricsMarker))
    return { stdout: `${ctx.metricsJson()}\r\n`, stderr: '', exitCode: 0, delayMs: 0 };
  const session: PsSession = { stdout: '', errors: [], delayMs: 0, lastFailed: false };
  return finish(session, runScriptIn(session, script, ctx));
}

/** `powershell -` reads its script from stdin and runs it line by line, each line its own command. */
function runPowerShellStdin(stdin: string, ctx: CommandContext): CommandResult {
  if (stdin.includes(ctx.metricsMarker))
    return { stdout: `${ctx.metricsJson()}\r\n`, stderr: '', exitCode: 0, delayMs: 0 };
  const session: PsSession = { stdout: '', errors: [], delayMs: 0, lastFailed: false };
  for (const line of stdin.split(/\r?\n/)) {
    const code = runScriptIn(session, line, ctx);
    if (code !== undefined) return finish(session, code);
  }
  return finish(session, undefined);
}

function unquote(text: string): string {
  const t = text.trim();
  if ((t.startsWith("'") && t.endsWith("'")) || (t.startsWith('"') && t.endsWith('"'))) return t.slice(1, -1);
  return t;
}
