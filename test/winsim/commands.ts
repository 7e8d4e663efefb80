// What a simulated host's cmd.exe and powershell.exe answer. Deliberately tiny: hostname, echo, exit,
// Start-Sleep and the agent's metrics script; anything else fails the way Windows does.

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
export type CommandStart = { kind: 'done'; result: CommandResult } | { kind: 'stdin'; run(stdin: string): CommandResult };

const notRecognizedCmd = (name: string): CommandResult => ({
  stdout: '',
  stderr: `'${name}' is not recognized as an internal or external command,\r\noperable program or batch file.\r\n`,
  exitCode: 1,
  delayMs: 0,
});

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

const PS_VALUE_FLAGS = new Set(['-executionpolicy', '-ep', '-inputformat', '-outputformat', '-windowstyle', '-configurationname', '-version']);

function startPowerShell(args: string[], ctx: CommandContext): CommandStart {
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!.toLowerCase();
    if (a === '-encodedcommand' || a === '-enc' || a === '-e' || a === '-ec') {
      const script = Buffer.from(args[i + 1] ?? '', 'base64').toString('utf16le');
      return { kind: 'done', result: runPowerShellScript(script, ctx) };
    }
    if (a === '-command' || a === '-c') {
      const rest = args.slice(i + 1).join(' ');
      if (rest === '-') return { kind: 'stdin', run: (stdin) => runPowerShellScript(stdin, ctx) };
      return { kind: 'done', result: runPowerShellScript(rest, ctx) };
    }
    if (a === '-') return { kind: 'stdin', run: (stdin) => runPowerShellScript(stdin, ctx) };
    if (PS_VALUE_FLAGS.has(a)) i++;
    else if (!a.startsWith('-')) return { kind: 'done', result: runPowerShellScript(args.slice(i).join(' '), ctx) };
  }
  return { kind: 'stdin', run: (stdin) => runPowerShellScript(stdin, ctx) };
}

function psError(text: string): string {
  const escaped = text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
  return `#< CLIXML\r\n<Objs Version="1.1.0.1" xmlns="http://schemas.microsoft.com/powershell/2004/04"><S S="Error">${escaped}_x000D__x000A_</S></Objs>`;
}

function unquote(text: string): string {
  const t = text.trim();
  if ((t.startsWith("'") && t.endsWith("'")) || (t.startsWith('"') && t.endsWith('"'))) return t.slice(1, -1);
  return t;
}

/** Runs the statements this host understands; the first unknown one is a terminating error. */
export function runPowerShellScript(script: string, ctx: CommandContext): CommandResult {
  if (script.includes(ctx.metricsMarker)) return { stdout: `${ctx.metricsJson()}\r\n`, stderr: '', exitCode: 0, delayMs: 0 };
  let stdout = '';
  let delayMs = 0;
  const statements = script
    .split(/[;\r\n]+/)
    .map((s) => s.trim())
    .filter((s) => s !== '' && !s.startsWith('#'));
  for (const st of statements) {
    let m: RegExpExecArray | null;
    if (/^\$\w+\s*=/.test(st)) continue;
    if (/^(hostname|\$env:computername)$/i.test(st)) stdout += `${ctx.hostname}\r\n`;
    else if ((m = /^(?:write-output|write-host|echo)\s+([\s\S]*)$/i.exec(st))) stdout += `${unquote(m[1]!)}\n`;
    else if ((m = /^exit(?:\s+(-?\d+))?$/i.exec(st))) return { stdout, stderr: '', exitCode: Number(m[1] ?? 0) >>> 0, delayMs };
    else if ((m = /^start-sleep(?:\s+-(s|seconds|m|milliseconds))?\s+(\d+(?:\.\d+)?)$/i.exec(st))) {
      delayMs += Number(m[2]) * (m[1] && m[1].toLowerCase().startsWith('m') ? 1 : 1000);
    } else {
      const word = st.split(/\s+/)[0]!;
      const msg = `${word} : The term '${word}' is not recognized as the name of a cmdlet, function, script file, or operable program. Check the spelling of the name, or if a path was included, verify that the path is correct and try again.`;
      return { stdout, stderr: psError(msg), exitCode: 1, delayMs };
    }
  }
  return { stdout, stderr: '', exitCode: 0, delayMs };
}
