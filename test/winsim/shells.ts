import { randomUUID } from 'node:crypto';
import { startCommand, type CommandContext, type CommandResult } from './commands.ts';
import { attribute, elementText, findElement, findElements, unescapeXml, type WsmanRequest } from './soap-request.ts';
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

function toCodepage(text: string, codepage: number): Buffer {
  if (codepage === 65001) return Buffer.from(text, 'utf8');
  return Buffer.from(text.replace(/[^\x00-\x7f]/g, '?'), 'latin1');
}

/** One host's WinRS shells: Create/Command/Send/Receive/Signal/Delete with Windows' replies and faults. */
export class ShellService {
  private readonly shells = new Map<string, Shell>();
  private readonly waiters = new Set<NodeJS.Timeout>();

  constructor(private readonly host: ShellHost) {}

  get shellCount(): number {
    return this.shells.size;
  }

  close(): void {
    for (const t of this.waiters) clearTimeout(t);
    this.waiters.clear();
    this.shells.clear();
  }

  async handle(req: WsmanRequest, owner: string, clientIp: string): Promise<SoapReply | SoapFault> {
    const { machine } = this.host;
    if (req.action === ACTIONS.create) return this.create(req, owner, clientIp);
    const shell = this.shells.get(req.selectors.get('ShellId') ?? '');
    if (!shell) return invalidSelectorsFault(machine, req.messageId);
    switch (req.action) {
      case ACTIONS.delete:
        this.shells.delete(shell.id);
        return { status: 200, body: envelope('transfer', 'http://schemas.xmlsoap.org/ws/2004/09/transfer/DeleteResponse', req.messageId, '') };
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
        return { status: 200, body: envelope('shell', `${NS_RSP}/SignalResponse`, req.messageId, '<rsp:SignalResponse/>') };
      }
      default:
        return invalidSelectorsFault(machine, req.messageId);
    }
  }

  private create(req: WsmanRequest, owner: string, clientIp: string): SoapReply | SoapFault {
    if (this.shells.size >= this.host.maxShells) return shellQuotaFault(this.host.maxShells);
    const id = randomUUID().toUpperCase();
    const codepage = Number(req.options.get('WINRS_CODEPAGE') ?? 437) || 437;
    this.shells.set(id, { id, codepage, commands: new Map() });
    const inputs = elementText(req.body, 'InputStreams') ?? 'stdin';
    const outputs = elementText(req.body, 'OutputStreams') ?? 'stdout stderr';
    const body =
      `<x:ResourceCreated><a:Address>${escapeXml(this.host.endpoint())}</a:Address><a:ReferenceParameters><w:ResourceURI>${RESOURCE_SHELL_CMD}</w:ResourceURI>` +
      `<w:SelectorSet><w:Selector Name="ShellId">${id}</w:Selector></w:SelectorSet></a:ReferenceParameters></x:ResourceCreated>` +
      `<rsp:Shell xmlns:rsp="${NS_RSP}"><rsp:ShellId>${id}</rsp:ShellId><rsp:ResourceUri>${RESOURCE_SHELL_CMD}</rsp:ResourceUri>` +
      `<rsp:Owner>${escapeXml(owner)}</rsp:Owner><rsp:ClientIP>${escapeXml(clientIp)}</rsp:ClientIP><rsp:IdleTimeOut>PT7200.000S</rsp:IdleTimeOut>` +
      `<rsp:InputStreams>${escapeXml(inputs)}</rsp:InputStreams><rsp:OutputStreams>${escapeXml(outputs)}</rsp:OutputStreams>` +
      `<rsp:ShellRunTime>P0DT0H0M0S</rsp:ShellRunTime><rsp:ShellInactivity>P0DT0H0M0S</rsp:ShellInactivity></rsp:Shell>`;
    return { status: 200, body: envelope('shell', 'http://schemas.xmlsoap.org/ws/2004/09/transfer/CreateResponse', req.messageId, body) };
  }

  private command(shell: Shell, req: WsmanRequest): SoapReply | SoapFault {
    const line = findElement(req.body, 'CommandLine');
    const exe = line ? elementText(line.inner, 'Command') : undefined;
    if (exe === undefined) return invalidParameterFault(this.host.machine, req.messageId);
    const args = findElements(line!.inner, 'Arguments').map((a) => a.inner.trim());
    const skipCmd = (req.options.get('WINRS_SKIP_CMD_SHELL') ?? 'FALSE').toUpperCase() === 'TRUE';
    const commandLine = [exe, ...args.map(unescapeXml)].join(' ');
    const started = startCommand(commandLine, this.host.commandContext);
    if (skipCmd && started.kind === 'done' && started.result.stderr.includes('is not recognized as an internal')) {
      return commandNotFoundFault(this.host.machine, req.messageId);
    }
    const id = (line ? attribute(line.attrs, 'CommandId') : undefined)?.toUpperCase() ?? randomUUID().toUpperCase();
    const extra = this.host.commandDelayMs();
    const cmd: Command =
      started.kind === 'done'
        ? { id, result: started.result, runStdin: null, stdin: [], readyAt: Date.now() + started.result.delayMs + extra, delivered: false }
        : { id, result: null, runStdin: started.run, stdin: [], readyAt: Number.POSITIVE_INFINITY, delivered: false };
    shell.commands.set(id, cmd);
    return {
      status: 200,
      body: envelope('shell', `${NS_RSP}/CommandResponse`, req.messageId, `<rsp:CommandResponse><rsp:CommandId>${id}</rsp:CommandId></rsp:CommandResponse>`),
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
        const t = setTimeout(() => {
          this.waiters.delete(t);
          resolve();
        }, Math.min(wait, timeout));
        this.waiters.add(t);
      });
      if (cmd.readyAt > Date.now() || !cmd.result) return operationTimeoutFault(this.host.machine, req.messageId);
    }
    const result = cmd.result!;
    let streams = '';
    if (!cmd.delivered) {
      cmd.delivered = true;
      for (const [name, text] of [['stdout', result.stdout], ['stderr', result.stderr]] as const) {
        const bytes = toCodepage(text, shell.codepage);
        for (let off = 0; off < bytes.length; off += STREAM_CHUNK) {
          streams += `<rsp:Stream Name="${name}" CommandId="${id}">${bytes.subarray(off, off + STREAM_CHUNK).toString('base64')}</rsp:Stream>`;
        }
      }
    }
    streams += `<rsp:Stream Name="stdout" CommandId="${id}" End="true"></rsp:Stream><rsp:Stream Name="stderr" CommandId="${id}" End="true"></rsp:Stream>`;
    const state = `<rsp:CommandState CommandId="${id}" State="${STATE_DONE}"><rsp:ExitCode>${result.exitCode}</rsp:ExitCode></rsp:CommandState>`;
    return { status: 200, body: envelope('shell', `${NS_RSP}/ReceiveResponse`, req.messageId, `<rsp:ReceiveResponse>${streams}${state}</rsp:ReceiveResponse>`) };
  }
}
