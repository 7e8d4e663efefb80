import { randomUUID } from 'node:crypto';
import { EnumerationStore } from './enumerations.ts';
import {
  startCommand,
  startExecutable,
  type CommandContext,
  type CommandResult,
  type CommandStart,
} from './commands.ts';
import {
  attribute,
  elementText,
  findElement,
  findElements,
  parseDurationMs,
  unescapeXml,
  type WsmanRequest,
} from './soap-request.ts';
import {
  ACTIONS,
  commandNotFoundFault,
  envelope,
  escapeXml,
  invalidParameterFault,
  invalidSelectorsFault,
  NS_RSP,
  operationTimeoutFault,
  RESOURCE_SHELL_CMD,
  shellQuotaFault,
  type SoapFault,
} from './soap-response.ts';

export interface SoapReply {
  status: 200 | 500;
  body: string;
}

interface Command {
  id: string;
  result: CommandResult | null;
  runStdin: ((stdin: string) => CommandResult) | null;
  stdin: Buffer[];
  readyAt: number;
  delivered: boolean;
}

interface Shell {
  id: string;
  codepage: number;
  commands: Map<string, Command>;
  /** The creating user, as the Create response names it; Enumerate lists a caller's own shells. */
  owner: string;
  clientIp: string;
  /** rsp:WorkingDirectory of the Create body, when there was one. */
  workingDirectory: string | undefined;
  idleTimeoutMs: number;
  inputStreams: string;
  outputStreams: string;
  locale: string;
  dataLocale: string;
  profileLoaded: boolean;
  processId: number;
  createdAt: number;
  lastActivityAt: number;
}

export interface ShellHost {
  machine: string;
  endpoint(): string;
  maxShells: number;
  /** Extra run time every command takes (fault injection). */
  commandDelayMs(): number;
  commandContext: CommandContext;
}

const STREAM_CHUNK = 8192;
const STATE_DONE = 'http://schemas.microsoft.com/wbem/wsman/1/windows/shell/CommandState/Done';
const DEFAULT_OPERATION_TIMEOUT_MS = 60000;
/** The IdleTimeOut Windows reports when Create names none (shell_create_response.xml), and the MaxIdleTimeOut Enumerate lists. */
const DEFAULT_IDLE_TIMEOUT_MS = 7_200_000;
const MAX_IDLE_TIMEOUT = 'PT2147483.647S';

/** WS-Man's seconds form of a timeout: PT60.000S. */
function secondsDuration(ms: number): string {
  return `PT${(ms / 1000).toFixed(3)}S`;
}

/** The day/hour/minute/second form Windows uses for ShellRunTime and ShellInactivity: P0DT0H0M9S. */
function dhmsDuration(ms: number): string {
  let s = Math.max(0, Math.floor(ms / 1000));
  const d = Math.floor(s / 86400);
  s -= d * 86400;
  const h = Math.floor(s / 3600);
  s -= h * 3600;
  const m = Math.floor(s / 60);
  return `P${d}DT${h}H${m}M${s - m * 60}S`;
}

/** xml:lang of a header element (Locale, DataLocale); en-US when absent. */
function headerLang(header: string, local: string): string {
  const hit = findElement(header, local);
  return (hit && attribute(hit.attrs, 'lang')) || 'en-US';
}

/** The user part of DOMAIN\user or user@domain. */
function userName(owner: string): string {
  return owner.replace(/^.*\\/, '').replace(/@.*$/, '');
}

function toCodepage(text: string, codepage: number): Buffer {
  if (codepage === 65001) return Buffer.from(text, 'utf8');
  return Buffer.from(text.replace(/[^\x00-\x7f]/g, '?'), 'latin1');
}

/** One host's WinRS shells: Create/Command/Send/Receive/Signal/Delete with Windows' replies and faults. */
export class ShellService {
  private readonly shells = new Map<string, Shell>();
  private readonly waiters = new Set<NodeJS.Timeout>();
  private readonly enumerations: EnumerationStore;
  private nextProcessId = 1000;

  constructor(private readonly host: ShellHost) {
    this.enumerations = new EnumerationStore(host.machine);
  }

  get shellCount(): number {
    return this.shells.size;
  }

  close(): void {
    for (const t of this.waiters) clearTimeout(t);
    this.waiters.clear();
    this.shells.clear();
    this.enumerations.clear();
  }

  async handle(req: WsmanRequest, owner: string, clientIp: string): Promise<SoapReply | SoapFault> {
    const { machine } = this.host;
    switch (req.action) {
      case ACTIONS.create:
        return this.create(req, owner, clientIp);
      case ACTIONS.enumerate:
        return this.enumerate(req, owner);
      case ACTIONS.pull:
        return this.enumerations.pull(req);
      case ACTIONS.release:
        return this.enumerations.release(req);
    }
    const shell = this.shells.get(req.selectors.get('ShellId') ?? '');
    if (!shell) return invalidSelectorsFault(machine, req.messageId);
    shell.lastActivityAt = Date.now();
    switch (req.action) {
      case ACTIONS.delete:
        this.shells.delete(shell.id);
        return {
          status: 200,
          body: envelope(
            'transfer',
            'http://schemas.xmlsoap.org/ws/2004/09/transfer/DeleteResponse',
            req.messageId,
            '',
          ),
        };
      case ACTIONS.command:
        return this.command(shell, req);
      case ACTIONS.send:
        return this.send(shell, req);
      case ACTIONS.receive:
        return this.receive(shell, req);
      case ACTIONS.signal: {
        const signal = findElement(req.body, 'Signal');
        const id = signal ? attribute(signal.attrs, 'CommandId') : undefined;
        if (id) shell.commands.delete(id);
        return {
          status: 200,
          body: envelope('shell', `${NS_RSP}/SignalResponse`, req.messageId, '<rsp:SignalResponse/>'),
        };
      }
      default:
        return invalidSelectorsFault(machine, req.messageId);
    }
  }

  private create(req: WsmanRequest, owner: string, clientIp: string): SoapReply | SoapFault {
    if (this.shells.size >= this.host.maxShells) return shellQuotaFault(this.host.maxShells);
    const id = randomUUID().toUpperCase();
    const codepage = Number(req.options.get('WINRS_CODEPAGE') ?? 437) || 437;
    const workingDirectory = elementText(req.body, 'WorkingDirectory') || undefined;
    const idleText = elementText(req.body, 'IdleTimeOut');
    const idleMs = idleText === undefined ? Number.NaN : parseDurationMs(idleText);
    const now = Date.now();
    // Stand-in winrshost.exe process ids: multiples of 4, increasing with gaps, wrapping before 65536.
    this.nextProcessId += 4 * (1 + (parseInt(id.slice(0, 2), 16) % 16));
    if (this.nextProcessId > 65000) this.nextProcessId = 1004;
    const shell: Shell = {
      id,
      codepage,
      commands: new Map(),
      owner,
      clientIp,
      workingDirectory,
      idleTimeoutMs: Number.isFinite(idleMs) ? idleMs : DEFAULT_IDLE_TIMEOUT_MS,
      inputStreams: elementText(req.body, 'InputStreams') ?? 'stdin',
      outputStreams: elementText(req.body, 'OutputStreams') ?? 'stdout stderr',
      locale: headerLang(req.header, 'Locale'),
      dataLocale: headerLang(req.header, 'DataLocale'),
      profileLoaded: (req.options.get('WINRS_NOPROFILE') ?? 'FALSE').toUpperCase() !== 'TRUE',
      processId: this.nextProcessId,
      createdAt: now,
      lastActivityAt: now,
    };
    this.shells.set(id, shell);
    const cwd =
      workingDirectory === undefined
        ? ''
        : `<rsp:WorkingDirectory>${escapeXml(workingDirectory)}</rsp:WorkingDirectory>`;
    const body =
      `<x:ResourceCreated><a:Address>${escapeXml(this.host.endpoint())}</a:Address><a:ReferenceParameters><w:ResourceURI>${RESOURCE_SHELL_CMD}</w:ResourceURI>` +
      `<w:SelectorSet><w:Selector Name="ShellId">${id}</w:Selector></w:SelectorSet></a:ReferenceParameters></x:ResourceCreated>` +
      `<rsp:Shell xmlns:rsp="${NS_RSP}"><rsp:ShellId>${id}</rsp:ShellId><rsp:ResourceUri>${RESOURCE_SHELL_CMD}</rsp:ResourceUri>` +
      `<rsp:Owner>${escapeXml(owner)}</rsp:Owner><rsp:ClientIP>${escapeXml(clientIp)}</rsp:ClientIP>${cwd}<rsp:IdleTimeOut>${secondsDuration(shell.idleTimeoutMs)}</rsp:IdleTimeOut>` +
      `<rsp:InputStreams>${escapeXml(shell.inputStreams)}</rsp:InputStreams><rsp:OutputStreams>${escapeXml(shell.outputStreams)}</rsp:OutputStreams>` +
      `<rsp:ShellRunTime>P0DT0H0M0S</rsp:ShellRunTime><rsp:ShellInactivity>P0DT0H0M0S</rsp:ShellInactivity></rsp:Shell>`;
    return {
      status: 200,
      body: envelope('shell', 'http://schemas.xmlsoap.org/ws/2004/09/transfer/CreateResponse', req.messageId, body),
    };
  }

  /**
   * One shell as Enumerate lists it (element set of enumerate_shells_optimized_response.xml; Owner
   * qualified with the computer name there). Values Windows measures (process id, memory) are stand-ins.
   */
  private shellXml(shell: Shell, now: number): string {
    const owner = /[\\@]/.test(shell.owner) ? shell.owner : `${this.host.commandContext.hostname}\\${shell.owner}`;
    const running = [...shell.commands.values()].filter((c) => !c.delivered).length;
    const cwd =
      shell.workingDirectory === undefined
        ? ''
        : `<rsp:WorkingDirectory>${escapeXml(shell.workingDirectory)}</rsp:WorkingDirectory>`;
    return (
      `<rsp:Shell xmlns:rsp="${NS_RSP}"><rsp:ShellId>${shell.id}</rsp:ShellId><rsp:ResourceUri>${RESOURCE_SHELL_CMD}</rsp:ResourceUri>` +
      `<rsp:Owner>${escapeXml(owner)}</rsp:Owner><rsp:ClientIP>${escapeXml(shell.clientIp)}</rsp:ClientIP><rsp:ProcessId>${shell.processId}</rsp:ProcessId>${cwd}` +
      `<rsp:IdleTimeOut>${secondsDuration(shell.idleTimeoutMs)}</rsp:IdleTimeOut><rsp:InputStreams>${escapeXml(shell.inputStreams)}</rsp:InputStreams>` +
      `<rsp:OutputStreams>${escapeXml(shell.outputStreams)}</rsp:OutputStreams><rsp:MaxIdleTimeOut>${MAX_IDLE_TIMEOUT}</rsp:MaxIdleTimeOut>` +
      `<rsp:Locale>${escapeXml(shell.locale)}</rsp:Locale><rsp:DataLocale>${escapeXml(shell.dataLocale)}</rsp:DataLocale><rsp:CompressionMode>NoCompression</rsp:CompressionMode>` +
      `<rsp:ProfileLoaded>${shell.profileLoaded ? 'Yes' : 'No'}</rsp:ProfileLoaded><rsp:Encoding>UTF8</rsp:Encoding><rsp:BufferMode>Block</rsp:BufferMode>` +
      `<rsp:State>Connected</rsp:State><rsp:ShellRunTime>${dhmsDuration(now - shell.createdAt)}</rsp:ShellRunTime>` +
      `<rsp:ShellInactivity>${dhmsDuration(now - shell.lastActivityAt)}</rsp:ShellInactivity><rsp:MemoryUsed>${4 + running}MB</rsp:MemoryUsed>` +
      `<rsp:ChildProcesses>${running}</rsp:ChildProcesses></rsp:Shell>`
    );
  }

  /**
   * Enumerate on .../windows/shell (every shell) or .../windows/shell/cmd: the caller's own shells. With
   * w:OptimizeEnumeration the first MaxElements come inline (w:Items, then w:EndOfSequence when that was
   * all); otherwise, or when more remain, an EnumerationContext for Pull.
   */
  private enumerate(req: WsmanRequest, caller: string): SoapReply {
    const uri = req.resourceUri.toLowerCase().replace(/\/+$/, '');
    const now = Date.now();
    const items = [...this.shells.values()]
      .filter((s) => userName(s.owner).toLowerCase() === userName(caller).toLowerCase())
      .filter(() => uri === NS_RSP.toLowerCase() || uri === RESOURCE_SHELL_CMD.toLowerCase())
      .map((s) => this.shellXml(s, now));
    return this.enumerations.enumerate(req, items);
  }

  private command(shell: Shell, req: WsmanRequest): SoapReply | SoapFault {
    const line = findElement(req.body, 'CommandLine');
    const exe = line ? elementText(line.inner, 'Command') : undefined;
    if (exe === undefined) return invalidParameterFault(this.host.machine, req.messageId);
    const args = findElements(line!.inner, 'Arguments').map((a) => a.inner.trim());
    // WINRS_SKIP_CMD_SHELL is a Command option (MS-WSMV): without cmd.exe the Command is the program's file
    // name, resolved like CreateProcess's lpApplicationName against the shell's directory (the profile
    // directory unless Create named a WorkingDirectory): no PATH search, so a bare "powershell.exe" is not found.
    const skipCmd = (req.options.get('WINRS_SKIP_CMD_SHELL') ?? 'FALSE').toUpperCase() === 'TRUE';
    let started: CommandStart;
    if (skipCmd) {
      const cwd = shell.workingDirectory ?? `C:\\Users\\${userName(shell.owner)}`;
      const direct = startExecutable(exe, args.map(unescapeXml), cwd, this.host.commandContext);
      if (!direct) return commandNotFoundFault(this.host.machine, req.messageId);
      started = direct;
    } else {
      started = startCommand([exe, ...args.map(unescapeXml)].join(' '), this.host.commandContext);
    }
    const id = (line ? attribute(line.attrs, 'CommandId') : undefined)?.toUpperCase() ?? randomUUID().toUpperCase();
    const extra = this.host.commandDelayMs();
    const cmd: Command =
      started.kind === 'done'
        ? {
            id,
            result: started.result,
            runStdin: null,
            stdin: [],
            readyAt: Date.now() + started.result.delayMs + extra,
            delivered: false,
          }
        : { id, result: null, runStdin: started.run, stdin: [], readyAt: Number.POSITIVE_INFINITY, delivered: false };
    shell.commands.set(id, cmd);
    return {
      status: 200,
      body: envelope(
        'shell',
        `${NS_RSP}/CommandResponse`,
        req.messageId,
        `<rsp:CommandResponse><rsp:CommandId>${id}</rsp:CommandId></rsp:CommandResponse>`,
      ),
    };
  }

  private send(shell: Shell, req: WsmanRequest): SoapReply | SoapFault {
    for (const s of findElements(req.body, 'Stream')) {
      const cmd = shell.commands.get((attribute(s.attrs, 'CommandId') ?? '').toUpperCase());
      if (!cmd) return invalidSelectorsFault(this.host.machine, req.messageId);
      cmd.stdin.push(Buffer.from(s.inner.trim(), 'base64'));
      if ((attribute(s.attrs, 'End') ?? '').toLowerCase() === 'true' && cmd.runStdin) {
        const result = cmd.runStdin(Buffer.concat(cmd.stdin).toString('utf8'));
        cmd.result = result;
        cmd.runStdin = null;
        cmd.readyAt = Date.now() + result.delayMs + this.host.commandDelayMs();
      }
    }
    return { status: 200, body: envelope('shell', `${NS_RSP}/SendResponse`, req.messageId, '<rsp:SendResponse/>') };
  }

  private async receive(shell: Shell, req: WsmanRequest): Promise<SoapReply | SoapFault> {
    const desired = findElement(req.body, 'DesiredStream');
    const id = desired ? attribute(desired.attrs, 'CommandId')?.toUpperCase() : undefined;
    if (!id) return invalidParameterFault(this.host.machine, req.messageId);
    const cmd = shell.commands.get(id);
    if (!cmd) return invalidSelectorsFault(this.host.machine, req.messageId);
    const timeout = req.operationTimeoutMs ?? DEFAULT_OPERATION_TIMEOUT_MS;
    const wait = cmd.readyAt - Date.now();
    if (wait > 0) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(
          () => {
            this.waiters.delete(t);
            resolve();
          },
          Math.min(wait, timeout),
        );
        this.waiters.add(t);
      });
      if (cmd.readyAt > Date.now() || !cmd.result) return operationTimeoutFault(this.host.machine, req.messageId);
    }
    const result = cmd.result!;
    let streams = '';
    if (!cmd.delivered) {
      cmd.delivered = true;
      for (const [name, text] of [
        ['stdout', result.stdout],
        ['stderr', result.stderr],
      ] as const) {
        const bytes = toCodepage(text, shell.codepage);
        for (let off = 0; off < bytes.length; off += STREAM_CHUNK) {
          streams += `<rsp:Stream Name="${name}" CommandId="${id}">${bytes.subarray(off, off + STREAM_CHUNK).toString('base64')}</rsp:Stream>`;
        }
      }
    }
    streams += `<rsp:Stream Name="stdout" CommandId="${id}" End="true"></rsp:Stream><rsp:Stream Name="stderr" CommandId="${id}" End="true"></rsp:Stream>`;
    const state = `<rsp:CommandState CommandId="${id}" State="${STATE_DONE}"><rsp:ExitCode>${result.exitCode}</rsp:ExitCode></rsp:CommandState>`;
    return {
      status: 200,
      body: envelope(
        'shell',
        `${NS_RSP}/ReceiveResponse`,
        req.messageId,
        `<rsp:ReceiveResponse>${streams}${state}</rsp:ReceiveResponse>`,
      ),
    };
  }
}
