import { WinrmFaultError, WinrmTimeoutError } from './errors.ts';
import {
  ACTION,
  OPERATION_TIMEOUT_CODE,
  RESOURCE,
  parseSoapResponse,
  type SoapResponse,
  type WsmanOption,
} from './soap.ts';
import { callWsman, type WsmanContext } from './wsman-call.ts';
import { child, childrenNamed, escapeXml, findDeep, path } from './xml.ts';

/** WinRS shell lifecycle (MS-WSMV 3.1.4.1.x, windows/shell resource): Create, Command, Send, Receive, Signal, Delete. */

const SIGNAL_TERMINATE = 'http://schemas.microsoft.com/wbem/wsman/1/windows/shell/signal/terminate';

export interface ShellOptions {
  /** Output code page; 65001 (UTF-8) unless told otherwise. */
  codepage?: number;
  noProfile?: boolean;
  workingDirectory?: string;
  environment?: Record<string, string>;
  idleTimeoutSec?: number;
}

export interface StreamChunk {
  name: string;
  commandId: string | undefined;
  data: Buffer;
  end: boolean;
}

export interface ReceivePage {
  streams: StreamChunk[];
  /** Last segment of the CommandState URI: 'Done', 'Running', 'Pending'; undefined when absent. */
  state: string | undefined;
  exitCode: number | undefined;
}

export interface CommandResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  /** Bytes for the command's stdin, sent before the first Receive (End=true on the last chunk). */
  stdin?: Buffer | string;
  /** Overall deadline for the command; on expiry it is terminated and WinrmTimeoutError thrown. */
  timeoutMs?: number;
  skipCmdShell?: boolean;
}

function readShellId(res: SoapResponse): string {
  const selectors = childrenNamed(path(res.body, 'ResourceCreated', 'ReferenceParameters', 'SelectorSet'), 'Selector');
  const id =
    selectors.find((s) => s.attrs.Name === 'ShellId')?.text.trim() ?? path(res.body, 'Shell', 'ShellId')?.text.trim();
  if (!id) throw new WinrmFaultError('the host created a shell but sent no ShellId', 'bad_response');
  return id;
}

export function readCommandId(res: SoapResponse): string {
  const id = findDeep(child(res.body, 'CommandResponse'), 'CommandId')?.text.trim();
  if (!id) throw new WinrmFaultError('the host accepted a command but sent no CommandId', 'bad_response');
  return id;
}

function readReceivePage(res: SoapResponse): ReceivePage {
  const r = child(res.body, 'ReceiveResponse');
  if (!r) throw new WinrmFaultError('the host answered Receive with an unexpected body', 'bad_response');
  const streams = childrenNamed(r, 'Stream').map((s) => ({
    name: s.attrs.Name ?? '',
    commandId: s.attrs.CommandId,
    data: Buffer.from(s.text.replace(/\s+/g, ''), 'base64'),
    end: (s.attrs.End ?? '').toLowerCase() === 'true',
  }));
  const cs = child(r, 'CommandState');
  const stateUri = cs?.attrs.State;
  const state = stateUri ? stateUri.slice(stateUri.lastIndexOf('/') + 1) : undefined;
  const codeText = child(cs, 'ExitCode')?.text.trim();
  const exitCode = codeText !== undefined && /^-?\d+$/.test(codeText) ? Number(codeText) : undefined;
  return { streams, state, exitCode };
}

export function parseReceiveResponse(xml: string): ReceivePage {
  return readReceivePage(parseSoapResponse(xml));
}

export function decodeOutput(bytes: Buffer, codepage: number): string {
  return codepage === 65001 ? bytes.toString('utf8') : bytes.toString('latin1');
}

export class WinrmShell {
  readonly id: string;
  readonly codepage: number;
  private readonly ctx: WsmanContext;
  private closed = false;

  constructor(ctx: WsmanContext, id: string, codepage: number) {
    this.ctx = ctx;
    this.id = id;
    this.codepage = codepage;
  }

  private call(action: string, body: string, options?: WsmanOption[]): Promise<SoapResponse> {
    const o: Parameters<typeof callWsman>[1] = {
      action,
      resourceUri: RESOURCE.shellCmd,
      selectors: { ShellId: this.id },
      body,
    };
    if (options) o.options = options;
    return callWsman(this.ctx, o);
  }

  async command(command: string, args: string[] = [], skipCmdShell = false): Promise<string> {
    const argXml = args.map((a) => `<rsp:Arguments>${escapeXml(a)}</rsp:Arguments>`).join('');
    const res = await this.call(
      ACTION.command,
      `<rsp:CommandLine><rsp:Command>${escapeXml(command)}</rsp:Command>${argXml}</rsp:CommandLine>`,
      [
        { name: 'WINRS_CONSOLEMODE_STDIN', value: 'TRUE' },
        { name: 'WINRS_SKIP_CMD_SHELL', value: skipCmdShell ? 'TRUE' : 'FALSE' },
      ],
    );
    return readCommandId(res);
  }

  async send(commandId: string, data: Buffer, end: boolean): Promise<void> {
    const endAttr = end ? ' End="true"' : '';
    await this.call(
      ACTION.send,
      `<rsp:Send><rsp:Stream Name="stdin" CommandId="${escapeXml(commandId)}"${endAttr}>${data.toString('base64')}</rsp:Stream></rsp:Send>`,
    );
  }

  /** One Receive; an OperationTimeout fault (2150858793) means "nothing yet" and yields an empty page. */
  async receive(commandId: string): Promise<ReceivePage> {
    try {
      const res = await this.call(
        ACTION.receive,
        `<rsp:Receive><rsp:DesiredStream CommandId="${escapeXml(commandId)}">stdout stderr</rsp:DesiredStream></rsp:Receive>`,
        [{ name: 'WSMAN_CMDSHELL_OPTION_KEEPALIVE', value: 'TRUE' }],
      );
      return readReceivePage(res);
    } catch (err) {
      if (err instanceof WinrmTimeoutError && err.code === OPERATION_TIMEOUT_CODE)
        return { streams: [], state: 'Running', exitCode: undefined };
      throw err;
    }
  }

  async signal(commandId: string, code = SIGNAL_TERMINATE): Promise<void> {
    await this.call(
      ACTION.signal,
      `<rsp:Signal CommandId="${escapeXml(commandId)}"><rsp:Code>${escapeXml(code)}</rsp:Code></rsp:Signal>`,
    );
  }

  /** Runs a command to completion and returns its decoded output. */
  async run(command: string, args: string[] = [], o: RunOptions = {}): Promise<CommandResult> {
    const deadline = o.timeoutMs !== undefined ? Date.now() + o.timeoutMs : Infinity;
    const commandId = await this.command(command, args, o.skipCmdShell ?? false);
    let done = false;
    try {
      if (o.stdin !== undefined) {
        const data = typeof o.stdin === 'string' ? Buffer.from(o.stdin, 'utf8') : o.stdin;
        const CHUNK = 32 * 1024;
        for (let off = 0; off < data.length || off === 0; off += CHUNK) {
          const last = off + CHUNK >= data.length;
          await this.send(commandId, data.subarray(off, off + CHUNK), last);
          if (last) break;
        }
      }
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      let exitCode: number | undefined;
      while (!done) {
        if (Date.now() > deadline)
          throw new WinrmTimeoutError(`command did not finish within ${o.timeoutMs} ms`, 'command_timeout');
        const page = await this.receive(commandId);
        for (const s of page.streams) {
          if (s.commandId && s.commandId.toUpperCase() !== commandId.toUpperCase()) continue;
          if (s.name === 'stdout') out.push(s.data);
          else if (s.name === 'stderr') err.push(s.data);
        }
        if (page.state === 'Done') {
          done = true;
          exitCode = page.exitCode ?? 0;
        }
      }
      return {
        exitCode: exitCode ?? 0,
        stdout: decodeOutput(Buffer.concat(out), this.codepage),
        stderr: decodeOutput(Buffer.concat(err), this.codepage),
      };
    } finally {
      // pywinrm's cleanup_command: terminate even when done, so the host frees the command.
      await this.signal(commandId).catch(() => undefined);
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.call(ACTION.delete, '');
  }
}

export async function openShell(ctx: WsmanContext, o: ShellOptions = {}): Promise<WinrmShell> {
  const codepage = o.codepage ?? 65001;
  let body =
    '<rsp:Shell><rsp:InputStreams>stdin</rsp:InputStreams><rsp:OutputStreams>stdout stderr</rsp:OutputStreams>';
  if (o.workingDirectory) body += `<rsp:WorkingDirectory>${escapeXml(o.workingDirectory)}</rsp:WorkingDirectory>`;
  if (o.idleTimeoutSec) body += `<rsp:IdleTimeOut>PT${o.idleTimeoutSec}S</rsp:IdleTimeOut>`;
  if (o.environment && Object.keys(o.environment).length > 0) {
    body += '<rsp:Environment>';
    for (const [k, v] of Object.entries(o.environment))
      body += `<rsp:Variable Name="${escapeXml(k)}">${escapeXml(v)}</rsp:Variable>`;
    body += '</rsp:Environment>';
  }
  body += '</rsp:Shell>';
  const res = await callWsman(ctx, {
    action: ACTION.create,
    resourceUri: RESOURCE.shellCmd,
    options: [
      { name: 'WINRS_NOPROFILE', value: o.noProfile === false ? 'FALSE' : 'TRUE' },
      { name: 'WINRS_CODEPAGE', value: String(codepage) },
    ],
    body,
  });
  return new WinrmShell(ctx, readShellId(res), codepage);
}

export function parseShellCreateResponse(xml: string): string {
  return readShellId(parseSoapResponse(xml));
}
