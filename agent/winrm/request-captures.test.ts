// Our client's requests, built by the client's own code paths, judged against the requests real
// Windows hosts accepted (../shared/fixtures/winrm/*_request*.xml). Comparison is by {namespace}local
// name, never by prefix; ids, hosts and timeouts are compared by shape, everything Windows dispatches
// on (Action, ResourceURI, selectors, options, body element names, signal codes) by value.
import assert from 'node:assert/strict';
import { fixtureNames, test, winrmFixture } from '../../test/helpers/fixtures.ts';
import { parseNsXml, nsAttr, nsChild, nsChildren, qname, XML_NS, type NsElement } from '../../test/helpers/ns-xml.ts';
import { createWinrmClient } from './client.ts';
import { enumerate } from './enumerate.ts';
import { WinrmFaultError } from './errors.ts';
import { get } from './get.ts';
import { identify } from './identify.ts';
import { encodePowerShell, runPowerShellInShell, STDIN_BOOTSTRAP } from './powershell.ts';
import { openShell, WinrmShell, type ShellOptions } from './shell.ts';
import { buildIdentifyEnvelope, formatDuration, RESOURCE } from './soap.ts';
import type { Transport } from './transport.ts';
import type { WsmanContext } from './wsman-call.ts';

// GPL txwinrm captures are read in place, never copied (INDEX.md licence note).
const fixture = winrmFixture;

const SOAP12 = 'http://www.w3.org/2003/05/soap-envelope';
const ANONYMOUS = 'http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous';
const GUID = /^[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}$/i;
const UUID_URN = /^uuid:[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}$/i;
const ISO_DURATION = /^P(?:\d+D)?T(?:\d+H)?(?:\d+M)?\d+(?:\.\d+)?S$/;
const CIMV2_ALL = 'http://schemas.microsoft.com/wbem/wsman/1/wmi/root/cimv2/*';

interface RequestView {
  name: string;
  root: NsElement;
  header: NsElement;
  body: NsElement;
  action: string;
}

function view(xml: string, name: string): RequestView {
  const root = parseNsXml(xml);
  const header = nsChild(root, SOAP12, 'Header');
  const body = nsChild(root, SOAP12, 'Body');
  if (!header || !body) throw new Error(`${name}: no SOAP 1.2 Header/Body`);
  const action = header.children.find((c) => c.local === 'Action')?.text.trim() ?? '';
  return { name, root, header, body, action };
}

/** Fills txwinrm's `{placeholder}` templates, XML-escaping the values. */
function fillTemplate(xml: string, values: Record<string, string>): string {
  const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
  return xml.replace(/\{(\w+)\}/g, (m, k: string) => (k in values ? esc(values[k]!) : m));
}

// Every request Windows accepted at the header level (fault captures too: their faults were about a value or
// the body). Vocabulary and mustUnderstand rules are learned from them rather than asserted from memory.
const REQUEST_CAPTURES = fixtureNames('winrm')
  .filter((f) => /_request(_.*)?\.xml$|_request_template\.xml$/.test(f))
  .map((f) => view(fixture(f), f));

const mustUnderstand = (el: NsElement): string | undefined =>
  nsAttr(el, 'mustUnderstand', SOAP12) ?? nsAttr(el, 'mustUnderstand');
const isTrue = (v: string | undefined) => (v ?? '').toLowerCase() === 'true';

function capturesWithAction(action: string): RequestView[] {
  return REQUEST_CAPTURES.filter((c) => c.action === action);
}

/** Header names some capture with this Action carries (Windows accepted them for this operation). */
function headerVocabulary(action: string): Set<string> {
  return new Set(capturesWithAction(action).flatMap((c) => c.header.children.map(qname)));
}

/**
 * A header the specific capture has may be left out if another accepted capture of the same Action omits it,
 * or if the capture marks it mustUnderstand="false" (the receiver may ignore it, e.g. pypsrp's wsmv:SessionId).
 */
function optionalHeaders(action: string): Set<string> {
  const caps = capturesWithAction(action);
  const all = new Set(caps.flatMap((c) => c.header.children.map(qname)));
  const omitted = [...all].filter((q) => caps.some((c) => !c.header.children.some((h) => qname(h) === q)));
  const ignorable = caps.flatMap((c) =>
    c.header.children.filter((h) => mustUnderstand(h)?.toLowerCase() === 'false').map(qname),
  );
  return new Set([...omitted, ...ignorable]);
}

/** Every header name in any accepted capture. */
const ANY_HEADER = new Set(REQUEST_CAPTURES.flatMap((c) => c.header.children.map(qname)));

/** mustUnderstand="true" is required only where every accepted capture sets it. */
function alwaysMustUnderstand(q: string): boolean {
  const seen = REQUEST_CAPTURES.flatMap((c) => c.header.children.filter((h) => qname(h) === q));
  return seen.length > 0 && seen.every((h) => isTrue(mustUnderstand(h)));
}

function optionVocabulary(action: string): Set<string> {
  return new Set(
    capturesWithAction(action).flatMap((c) =>
      c.header.children
        .filter((h) => h.local === 'OptionSet')
        .flatMap((os) => os.children.map((o) => nsAttr(o, 'Name') ?? '')),
    ),
  );
}

const BOOLEAN = /^(true|false)$/i;
const sameValue = (a: string, b: string) =>
  BOOLEAN.test(a) && BOOLEAN.test(b) ? a.toLowerCase() === b.toLowerCase() : a === b;

function options(header: NsElement): Map<string, NsElement> {
  const set = header.children.find((h) => h.local === 'OptionSet');
  return new Map((set?.children ?? []).map((o) => [nsAttr(o, 'Name') ?? '', o]));
}

function compareHeader(ours: RequestView, cap: RequestView, diffs: string[]): void {
  const vocab = headerVocabulary(cap.action);
  const optional = optionalHeaders(cap.action);
  const oursByQ = new Map<string, NsElement>();
  for (const h of ours.header.children) {
    const q = qname(h);
    if (oursByQ.has(q)) diffs.push(`header ${q} sent twice`);
    oursByQ.set(q, h);
    const mu = nsAttr(h, 'mustUnderstand', SOAP12);
    // An extra header Windows may ignore (mustUnderstand="false", e.g. Locale on a Pull) only has to be a known
    // WS-Man header; one it must process has to have been accepted on this very operation.
    const ignorable = mu?.toLowerCase() === 'false' && ANY_HEADER.has(q);
    if (!vocab.has(q) && !ignorable) diffs.push(`header ${q} appears in no Windows capture of ${cap.action}`);
    if (
      mu !== undefined &&
      isTrue(mu) &&
      !REQUEST_CAPTURES.some((c) => c.header.children.some((x) => qname(x) === q && isTrue(mustUnderstand(x))))
    ) {
      diffs.push(`header ${q} marked mustUnderstand="true", which no Windows capture does`);
    }
    if (alwaysMustUnderstand(q) && !isTrue(mu)) diffs.push(`header ${q} lacks s:mustUnderstand="true"`);
  }
  for (const c of cap.header.children) {
    const q = qname(c);
    const o = oursByQ.get(q);
    if (!o) {
      if (!optional.has(q)) diffs.push(`header ${q} missing (the capture has it)`);
      continue;
    }
    const ot = o.text.trim();
    const ct = c.text.trim();
    switch (c.local) {
      case 'Action':
      case 'ResourceURI':
        if (ot !== ct) diffs.push(`${c.local}: ours ${ot} vs capture ${ct}`);
        break;
      case 'To': {
        const op = new URL(ot);
        const cp = new URL(ct);
        if (op.pathname !== cp.pathname) diffs.push(`To path: ours ${op.pathname} vs capture ${cp.pathname}`);
        if (!/^https?:$/.test(op.protocol)) diffs.push(`To scheme ${op.protocol}`);
        break;
      }
      case 'ReplyTo': {
        const oa = o.children.find((x) => qname(x) === qname(c.children[0]!));
        if (!oa) diffs.push('ReplyTo has no Address in the capture namespace');
        else {
          if (oa.text.trim() !== ANONYMOUS || c.children[0]!.text.trim() !== ANONYMOUS)
            diffs.push(`ReplyTo Address ${oa.text}`);
          if (!isTrue(nsAttr(oa, 'mustUnderstand', SOAP12)))
            diffs.push('ReplyTo Address lacks s:mustUnderstand="true"');
        }
        break;
      }
      case 'MessageID':
        if (!UUID_URN.test(ot)) diffs.push(`MessageID ${ot} is not uuid:<GUID>`);
        break;
      case 'MaxEnvelopeSize':
        if (!/^\d+$/.test(ot) || Number(ot) < 8192) diffs.push(`MaxEnvelopeSize ${ot}`);
        break;
      case 'OperationTimeout':
        if (!ISO_DURATION.test(ot) || Number(/([\d.]+)S$/.exec(ot)?.[1]) <= 0)
          diffs.push(`OperationTimeout ${ot} is not a positive ISO-8601 duration`);
        break;
      case 'Locale':
      case 'DataLocale':
        if (nsAttr(o, 'lang', XML_NS) !== nsAttr(c, 'lang', XML_NS))
          diffs.push(`${c.local} xml:lang ${nsAttr(o, 'lang', XML_NS)}`);
        break;
      case 'SelectorSet': {
        const names = (s: NsElement) => s.children.map((x) => `${qname(x)}@${nsAttr(x, 'Name')}`).sort();
        if (names(o).join() !== names(c).join())
          diffs.push(`selectors: ours ${names(o).join()} vs capture ${names(c).join()}`);
        for (const sel of o.children)
          if (nsAttr(sel, 'Name') === 'ShellId' && !GUID.test(sel.text.trim())) diffs.push(`ShellId ${sel.text}`);
        break;
      }
      case 'OptionSet': {
        // MustComply is not compared: pypsrp sets it on WINRS_NOPROFILE, pywinrm does not, Windows accepted both.
        const oo = options(ours.header);
        for (const [name, copt] of options(cap.header)) {
          const mine = oo.get(name);
          if (!mine) diffs.push(`option ${name} missing`);
          else {
            if (qname(mine) !== qname(copt)) diffs.push(`option ${name} element ${qname(mine)}`);
            if (!sameValue(mine.text.trim(), copt.text.trim()))
              diffs.push(`option ${name}: ours ${mine.text.trim()} vs capture ${copt.text.trim()}`);
          }
        }
        break;
      }
      default:
        break;
    }
  }
  const known = optionVocabulary(cap.action);
  for (const name of options(ours.header).keys())
    if (!known.has(name)) diffs.push(`option ${name} appears in no Windows capture of ${cap.action}`);
}

interface BodyRules {
  /** Capture children our client has no way to send (unsupported Create fields), by local name. */
  notSent?: string[];
  /** Attributes (local names) to leave out of the comparison. */
  ignoreAttrs?: string[];
  /** Leaf texts compared by a custom rule instead of equality, by local name. */
  text?: Record<string, (ours: string, capture: string) => boolean>;
}

const ID_TEXT = new Set(['ShellId', 'CommandId']);
const ID_ATTR = new Set(['CommandId']);

function compareElement(o: NsElement, c: NsElement, path: string, rules: BodyRules, diffs: string[]): void {
  const here = `${path}/${c.local}`;
  if (qname(o) !== qname(c)) {
    diffs.push(`${here}: ours ${qname(o)} vs capture ${qname(c)}`);
    return;
  }
  const ignore = new Set(rules.ignoreAttrs ?? []);
  const attrs = (el: NsElement) =>
    new Map(el.attrs.filter((a) => !ignore.has(a.local)).map((a) => [`{${a.ns}}${a.local}`, a.value]));
  const oa = attrs(o);
  const ca = attrs(c);
  for (const [k, cv] of ca) {
    const ov = oa.get(k);
    const local = k.slice(k.indexOf('}') + 1);
    if (local === 'End') {
      if (isTrue(ov) !== isTrue(cv)) diffs.push(`${here}@End: ours ${ov} vs capture ${cv}`);
    } else if (ov === undefined) diffs.push(`${here}@${k} missing`);
    else if (ID_ATTR.has(local) ? !GUID.test(ov) : ov !== cv)
      diffs.push(`${here}@${local}: ours ${ov} vs capture ${cv}`);
  }
  for (const k of oa.keys()) if (!ca.has(k)) diffs.push(`${here}@${k} not in the capture`);
  if (c.children.length === 0 && o.children.length === 0) {
    const ot = o.text.trim();
    const ct = c.text.trim();
    const rule = rules.text?.[c.local];
    const ok = rule ? rule(ot, ct) : ID_TEXT.has(c.local) ? GUID.test(ot) : ot === ct;
    if (!ok) diffs.push(`${here} text: ours ${JSON.stringify(ot)} vs capture ${JSON.stringify(ct)}`);
    return;
  }
  const notSent = new Set(rules.notSent ?? []);
  const wanted = c.children.filter((x) => !notSent.has(x.local));
  // Captures from different clients put Create fields in different orders and Windows accepted each, and
  // environment variables are a set; so Shell and Environment children are matched by name, the rest in order.
  if (c.local === 'Shell' || c.local === 'Environment') {
    const pool = [...o.children];
    const key = (x: NsElement) => `${qname(x)}@${nsAttr(x, 'Name') ?? ''}`;
    for (const cc of wanted) {
      const i = pool.findIndex((x) => key(x) === key(cc));
      if (i < 0) diffs.push(`${here}: ${qname(cc)} missing`);
      else compareElement(pool.splice(i, 1)[0]!, cc, here, rules, diffs);
    }
    for (const extra of pool) diffs.push(`${here}: ${qname(extra)} not in the capture`);
    return;
  }
  const n = Math.max(o.children.length, wanted.length);
  for (let i = 0; i < n; i++) {
    const oc = o.children[i];
    const cc = wanted[i];
    if (!oc) diffs.push(`${here}: ${qname(cc!)} missing`);
    else if (!cc) diffs.push(`${here}: ${qname(oc)} not in the capture`);
    else compareElement(oc, cc, here, rules, diffs);
  }
}

/** Differences between our request and a Windows-accepted capture, at the level Windows dispatches on. */
function compareRequest(oursXml: string, captureXml: string, captureName: string, rules: BodyRules = {}): string[] {
  const diffs: string[] = [];
  const ours = view(oursXml, 'ours');
  const cap = view(captureXml, captureName);
  if (qname(ours.root) !== `{${SOAP12}}Envelope` || qname(cap.root) !== `{${SOAP12}}Envelope`)
    diffs.push(`root ${qname(ours.root)}`);
  compareHeader(ours, cap, diffs);
  const ob = ours.body.children;
  const cb = cap.body.children;
  if (ob.length !== cb.length) diffs.push(`Body: ours ${ob.map(qname).join()} vs capture ${cb.map(qname).join()}`);
  for (let i = 0; i < Math.min(ob.length, cb.length); i++) compareElement(ob[i]!, cb[i]!, 'Body', rules, diffs);
  return diffs;
}

/** A host that answers with captured responses, in order, each re-addressed to the request it answers. */
type CannedResponse = string | { file: string; edit: (xml: string) => string };

function fakeHost(...responses: CannedResponse[]) {
  const sent: string[] = [];
  const queue = [...responses];
  const reply = async (xml: string) => {
    sent.push(xml);
    const next = queue.shift();
    if (!next) throw new Error(`unexpected request ${view(xml, 'ours').action}`);
    const file = typeof next === 'string' ? next : next.file;
    const edit = typeof next === 'string' ? (x: string) => x : next.edit;
    const id =
      view(xml, 'ours')
        .header.children.find((h) => h.local === 'MessageID')
        ?.text.trim() ?? '';
    const body = edit(fixture(file)).replace(
      /<(\w+:)?RelatesTo>[^<]*<\/(\w+:)?RelatesTo>/,
      `<a:RelatesTo>${id}</a:RelatesTo>`,
    );
    return { status: file.startsWith('fault_') ? 500 : 200, xml: body };
  };
  const transport = {
    url: 'http://winhost.example.test:5985/wsman',
    send: reply,
    sendAnonymous: reply,
  } as unknown as Transport;
  const ctx: WsmanContext = {
    transport,
    maxEnvelopeSize: 512000,
    operationTimeoutSec: 20,
    locale: 'en-US',
    readTimeoutMs: 30000,
  };
  return { ctx, transport, sent, pending: () => queue.length };
}

const captureIds = (name: string) => {
  const v = view(fixture(name), name);
  const shellId = v.header.children
    .find((h) => h.local === 'SelectorSet')
    ?.children.find((s) => nsAttr(s, 'Name') === 'ShellId')
    ?.text.trim();
  const withCmd = [v.body, ...v.body.children, ...v.body.children.flatMap((c) => c.children)].find(
    (e) => nsAttr(e, 'CommandId') !== undefined,
  );
  return { shellId: shellId!, commandId: withCmd ? nsAttr(withCmd, 'CommandId')! : '' };
};

const stdinOf = (name: string) => {
  const send = view(fixture(name), name).body.children[0]!;
  return Buffer.from(send.children[0]!.text.trim(), 'base64');
};

test('Identify (no request capture exists): empty SOAP 1.2 header, wsmid:Identify in the namespace Windows answers in', async () => {
  const root = parseNsXml(buildIdentifyEnvelope());
  assert.equal(qname(root), `{${SOAP12}}Envelope`);
  assert.equal(nsChild(root, SOAP12, 'Header')?.children.length, 0);
  const body = nsChild(root, SOAP12, 'Body')!;
  for (const name of ['identify_response_win2008r2_stack2.xml', 'identify_response_win2012r2_stack3.xml']) {
    const answer = nsChild(parseNsXml(fixture(name)), SOAP12, 'Body')!.children[0]!;
    assert.equal(answer.local, 'IdentifyResponse');
    assert.deepEqual(body.children.map(qname), [`{${answer.ns}}Identify`], name);
  }
  const host = fakeHost('identify_response_win2012r2_stack3.xml');
  assert.equal((await identify(host.transport, true)).stackVersion, '3.0');
  assert.equal(host.sent[0], buildIdentifyEnvelope());
});

test('Get of the service config matches get_config_request.xml', async () => {
  const host = fakeHost('get_config_response_maxenvelope500_lab_basic_unencrypted.xml');
  const cfg = await get(host.ctx, { resourceUri: RESOURCE.config });
  assert.equal(cfg.element, 'Config');
  assert.equal(cfg.properties.MaxEnvelopeSizekb, '500');
  assert.deepEqual(compareRequest(host.sent[0]!, fixture('get_config_request.xml'), 'get_config_request.xml'), []);
});

test('WQL Enumerate and the Pull that follows match txwinrm request templates (filter, optimization, context)', async () => {
  const wql = "SELECT Name,ProcessId FROM Win32_Process WHERE WorkingSetSize < 1000000 AND Name LIKE 'svc%'";
  const host = fakeHost(
    'enumerate_win32_process_win2008r2_response.xml',
    'pull_win32_process_win2008r2_end_response.xml',
  );
  const items = await enumerate(host.ctx, { wql });
  assert.equal(items.length, 3, 'the inline items of the Enumerate plus the Pull');
  assert.equal(host.sent.length, 2);
  const enumTemplate = fillTemplate(fixture('enumerate_wql_request_template.xml'), {
    resource_uri: CIMV2_ALL,
    envelope_size: '153600',
    wql,
  });
  assert.deepEqual(compareRequest(host.sent[0]!, enumTemplate, 'enumerate_wql_request_template.xml'), []);
  const context = view(fixture('enumerate_win32_process_win2008r2_response.xml'), 'r')
    .body.children[0]!.children.find((c) => c.local === 'EnumerationContext')!
    .text.trim();
  const pullTemplate = fillTemplate(fixture('pull_request_template.xml'), {
    resource_uri: CIMV2_ALL,
    envelope_size: '153600',
    enumeration_context: context,
  });
  assert.deepEqual(compareRequest(host.sent[1]!, pullTemplate, 'pull_request_template.xml'), []);
});

test('the comparison fails on what Windows would refuse: wrong Action, wrong namespace, missing selector', () => {
  const cap = fixture('shell_delete_request.xml');
  const wrongAction = cap.replace('transfer/Delete<', 'transfer/Remove<');
  assert.deepEqual(compareRequest(wrongAction, cap, 'x'), [
    'Action: ours http://schemas.xmlsoap.org/ws/2004/09/transfer/Remove vs capture http://schemas.xmlsoap.org/ws/2004/09/transfer/Delete',
  ]);
  const wrongNs = cap.replace(
    'xmlns:wsman="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"',
    'xmlns:wsman="http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd"',
  );
  const nsDiffs = compareRequest(wrongNs, cap, 'x');
  assert.ok(
    nsDiffs.includes('header {http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd}ResourceURI missing (the capture has it)'),
    nsDiffs.join('\n'),
  );
  const noSelector = cap.replace(/<wsman:SelectorSet>.*<\/wsman:SelectorSet>/, '');
  assert.deepEqual(compareRequest(noSelector, cap, 'x'), [
    'header {http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd}SelectorSet missing (the capture has it)',
  ]);
  const soap11 = cap.replace('http://www.w3.org/2003/05/soap-envelope', 'http://schemas.xmlsoap.org/soap/envelope/');
  assert.throws(() => compareRequest(soap11, cap, 'x'), /no SOAP 1.2 Header\/Body/);
  const signal = fixture('shell_signal_ctrl_c_request.xml');
  const codeDiffs = compareRequest(signal.replace('signal/ctrl_c', 'signal/ctrl-c'), signal, 'x');
  assert.equal(codeDiffs.length, 1, codeDiffs.join('\n'));
  assert.match(codeDiffs[0]!, /^Body\/Signal\/Code text/);
  const rspNs = signal.replace(
    'xmlns:rsp="http://schemas.microsoft.com/wbem/wsman/1/windows/shell"',
    'xmlns:rsp="http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd"',
  );
  assert.deepEqual(compareRequest(rspNs, signal, 'x'), [
    'Body/Signal: ours {http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd}Signal vs capture {http://schemas.microsoft.com/wbem/wsman/1/windows/shell}Signal',
  ]);
  const noMu = signal.replace('<wsa:Action s:mustUnderstand="true">', '<wsa:Action>');
  assert.deepEqual(compareRequest(noMu, signal, 'x'), [
    'header {http://schemas.xmlsoap.org/ws/2004/08/addressing}Action lacks s:mustUnderstand="true"',
  ]);
});

const CREATES: { capture: string; options: (cap: RequestView) => ShellOptions; rules?: BodyRules }[] = [
  { capture: 'shell_create_request.xml', options: () => ({}) },
  { capture: 'shell_create_request_codepage_65001.xml', options: () => ({ codepage: 65001 }) },
  { capture: 'shell_create_request_noprofile.xml', options: () => ({ noProfile: true }) },
  { capture: 'shell_create_request_pywinrm_style.xml', options: () => ({ noProfile: false, codepage: 437 }) },
  {
    capture: 'shell_create_request_environment_vars.xml',
    options: (cap) => ({
      environment: Object.fromEntries(
        nsChildren(cap.body.children[0], cap.body.children[0]!.ns, 'Environment')[0]!.children.map((v) => [
          nsAttr(v, 'Name')!,
          v.text,
        ]),
      ),
    }),
  },
  {
    // Our client has no Lifetime or Name option; everything it does send must match.
    capture: 'shell_create_request_idle_lifetime_workingdir.xml',
    options: () => ({ idleTimeoutSec: 60, workingDirectory: 'C:\\Windows' }),
    rules: { notSent: ['Lifetime', 'Name'] },
  },
];

for (const c of CREATES) {
  test(`shell Create matches ${c.capture}`, async () => {
    const host = fakeHost('shell_create_response.xml');
    const capXml = fixture(c.capture);
    const shell = await openShell(host.ctx, c.options(view(capXml, c.capture)));
    assert.equal(shell.id, '4283CBDC-3706-415B-88BD-B385F3E51A53');
    assert.deepEqual(compareRequest(host.sent[0]!, capXml, c.capture, c.rules), []);
  });
}

test('the default shell asks for UTF-8 output and no profile, with the option names and values Windows accepted', async () => {
  const host = fakeHost('shell_create_response.xml');
  await openShell(host.ctx);
  const opts = options(view(host.sent[0]!, 'ours').header);
  const cp = options(view(fixture('shell_create_request_codepage_65001.xml'), 'c').header).get('WINRS_CODEPAGE')!;
  const np = options(view(fixture('shell_create_request_noprofile.xml'), 'n').header).get('WINRS_NOPROFILE')!;
  assert.equal(qname(opts.get('WINRS_CODEPAGE')!), qname(cp));
  assert.equal(opts.get('WINRS_CODEPAGE')!.text, '65001');
  assert.equal(qname(opts.get('WINRS_NOPROFILE')!), qname(np));
  assert.ok(sameValue(opts.get('WINRS_NOPROFILE')!.text, np.text));
});

function shellFor(capture: string, ...responses: CannedResponse[]) {
  const host = fakeHost(...responses);
  const ids = captureIds(capture);
  return { host, ids, shell: new WinrmShell(host.ctx, ids.shellId, 65001) };
}

test('Command cmd.exe /c echo hi matches shell_command_request_cmd_echo_hi.xml', async () => {
  const { host, shell } = shellFor('shell_command_request_cmd_echo_hi.xml', 'shell_command_response.xml');
  assert.equal(await shell.command('cmd.exe', ['/c', 'echo', 'hi']), 'CF84C20A-0A35-43FA-AF78-0B4711DA5F30');
  assert.deepEqual(compareRequest(host.sent[0]!, fixture('shell_command_request_cmd_echo_hi.xml'), 'cmd_echo_hi'), []);
});

test('Command "powershell -encodedcommand …" matches pywinrm run_ps capture, options included', async () => {
  const { host, shell } = shellFor('shell_command_request_powershell_encodedcommand.xml', 'shell_command_response.xml');
  await shell.command(`powershell -encodedcommand ${encodePowerShell('Write-Error "Error"')}`);
  assert.deepEqual(
    compareRequest(host.sent[0]!, fixture('shell_command_request_powershell_encodedcommand.xml'), 'ps_encoded'),
    [],
  );
});

test('runPowerShell sends powershell.exe with -EncodedCommand as Arguments, then Receive and a terminate Signal', async () => {
  const { host, shell } = shellFor(
    'shell_command_request_cmd_echo_hi.xml',
    'shell_command_response.xml',
    'shell_receive_response_powershell_write_error_clixml_exit1.xml',
    'shell_signal_response.xml',
  );
  const result = await runPowerShellInShell(shell, 'Write-Error "Error"');
  assert.equal(result.exitCode, 1);
  assert.equal(host.pending(), 0);
  const [command, receive, signal] = host.sent as [string, string, string];
  // The header must be what pywinrm's powershell command carried; the body uses the Command + Arguments
  // shape of the pypsrp command capture.
  const psCap = fixture('shell_command_request_powershell_encodedcommand.xml');
  assert.deepEqual(
    compareRequest(command, psCap, 'ps_encoded').filter((d) => !d.startsWith('Body')),
    [],
  );
  const line = view(command, 'ours').body.children[0]!;
  const capLine = view(fixture('shell_command_request_cmd_echo_hi.xml'), 'c').body.children[0]!;
  assert.equal(qname(line), qname(capLine));
  assert.deepEqual([...new Set(line.children.map(qname))], [...new Set(capLine.children.map(qname))]);
  const words = line.children.map((c) => c.text);
  assert.equal(words[0], 'powershell.exe');
  const enc = words[words.findIndex((w) => /^-EncodedCommand$/i.test(w)) + 1]!;
  assert.match(Buffer.from(enc, 'base64').toString('utf16le'), /Write-Error "Error"/);
  assert.deepEqual(compareRequest(receive, fixture('shell_receive_request.xml'), 'receive'), []);
  const terminate = (o: string, c: string) => o === c.replace(/ctrl_c$/, 'terminate');
  assert.deepEqual(
    compareRequest(signal, fixture('shell_signal_ctrl_c_request.xml'), 'signal', { text: { Code: terminate } }),
    [],
  );
});

test('Command powershell.exe - matches shell_command_request_powershell_stdin.xml; stdin Sends match the Send captures', async () => {
  const { host, shell } = shellFor(
    'shell_command_request_powershell_stdin.xml',
    'shell_command_response.xml',
    'shell_send_response.xml',
    'shell_send_response.xml',
    'shell_send_response.xml',
  );
  await shell.command('powershell.exe', ['-']);
  const sendCmd = captureIds('shell_send_stdin_request.xml').commandId;
  await shell.send(sendCmd, stdinOf('shell_send_stdin_request.xml'), false);
  await shell.send(sendCmd, stdinOf('shell_send_stdin_end_request.xml'), true);
  await shell.send(
    captureIds('shell_send_stdin_request_pywinrm.xml').commandId,
    stdinOf('shell_send_stdin_request_pywinrm.xml'),
    false,
  );
  assert.deepEqual(
    compareRequest(host.sent[0]!, fixture('shell_command_request_powershell_stdin.xml'), 'ps_stdin'),
    [],
  );
  assert.deepEqual(compareRequest(host.sent[1]!, fixture('shell_send_stdin_request.xml'), 'send'), []);
  assert.deepEqual(compareRequest(host.sent[2]!, fixture('shell_send_stdin_end_request.xml'), 'send_end'), []);
  assert.deepEqual(compareRequest(host.sent[3]!, fixture('shell_send_stdin_request_pywinrm.xml'), 'send_pywinrm'), []);
});

test('runPowerShell via stdin: Send with End=true has the shape of shell_send_stdin_end_request.xml', async () => {
  // Windows' answer to this Send sequence names command B0973E54…; hand that id out from the Command.
  const sendCmd = captureIds('shell_send_stdin_end_request.xml').commandId;
  const { host, shell } = shellFor(
    'shell_send_stdin_end_request.xml',
    { file: 'shell_command_response.xml', edit: (x) => x.replace('CF84C20A-0A35-43FA-AF78-0B4711DA5F30', sendCmd) },
    'shell_send_response.xml',
    'shell_receive_response_powershell_stdin_two_lines.xml',
    'shell_signal_response.xml',
  );
  const r = await runPowerShellInShell(shell, 'Write-Host "output 1"', { viaStdin: true });
  assert.equal(r.stdout, 'output 1\noutput 2\n');
  // The command reads all of stdin as one script block; `-Command -` would run it line by line.
  const args = [...host.sent[0]!.matchAll(/<rsp:Arguments>([^<]*)<\/rsp:Arguments>/g)].map((m) => m[1]!);
  assert.ok(!args.includes('-Command') && !args.includes('-'), `no console-style stdin: ${args.join(' ')}`);
  assert.equal(
    args[args.indexOf('-EncodedCommand') + 1],
    encodePowerShell(STDIN_BOOTSTRAP),
    'the bootstrap runs the script',
  );
  const anyBase64 = (o: string) => /^[A-Za-z0-9+/]+=*$/.test(o);
  assert.deepEqual(
    compareRequest(host.sent[1]!, fixture('shell_send_stdin_end_request.xml'), 'send_end', {
      text: { Stream: anyBase64 },
    }),
    [],
  );
});

test("WINRS_SKIP_CMD_SHELL command matches the capture, and Windows' file-not-found fault surfaces as code 2147942402", async () => {
  const { host, shell } = shellFor(
    'fault_command_file_not_found_request.xml',
    'fault_command_file_not_found_2147942402_response.xml',
  );
  await assert.rejects(
    shell.command('powershell.exe', ['Write-Host', 'hi'], true),
    (e: unknown) => e instanceof WinrmFaultError && e.code === '2147942402',
  );
  assert.deepEqual(
    compareRequest(host.sent[0]!, fixture('fault_command_file_not_found_request.xml'), 'file_not_found'),
    [],
  );
});

test('Receive matches shell_receive_request.xml and the pywinrm Receive that timed out; a timeout fault is an empty page', async () => {
  const { host, shell, ids } = shellFor(
    'shell_receive_request.xml',
    'shell_receive_response_echo_hi_done.xml',
    'fault_receive_operation_timeout_2150858793_response.xml',
  );
  const page = await shell.receive(ids.commandId);
  assert.equal(page.state, 'Done');
  const waiting = await shell.receive(ids.commandId);
  assert.deepEqual(waiting, { streams: [], state: 'Running', exitCode: undefined });
  assert.deepEqual(compareRequest(host.sent[0]!, fixture('shell_receive_request.xml'), 'receive'), []);
  assert.deepEqual(
    compareRequest(host.sent[1]!, fixture('fault_receive_operation_timeout_request.xml'), 'receive_timeout'),
    [],
  );
});

test('Receive always names the CommandId, unlike the request Windows refused with code 87', async () => {
  const { host, shell, ids } = shellFor('shell_receive_request.xml', 'shell_receive_response_echo_hi_done.xml');
  await shell.receive(ids.commandId);
  const refused = fixture('fault_receive_invalid_parameter_request.xml');
  assert.deepEqual(compareRequest(host.sent[0]!, refused, 'invalid_parameter', { ignoreAttrs: ['CommandId'] }), []);
  const diffs = compareRequest(host.sent[0]!, refused, 'invalid_parameter');
  assert.deepEqual(diffs, ['Body/Receive/DesiredStream@{}CommandId not in the capture']);
});

test('Signal ctrl_c matches shell_signal_ctrl_c_request.xml; the default terminate differs only in the Code URI', async () => {
  const { host, shell, ids } = shellFor(
    'shell_signal_ctrl_c_request.xml',
    'shell_signal_response.xml',
    'shell_signal_response.xml',
  );
  const cap = fixture('shell_signal_ctrl_c_request.xml');
  const capCode = view(cap, 'c').body.children[0]!.children[0]!.text.trim();
  await shell.signal(ids.commandId, capCode);
  await shell.signal(ids.commandId);
  assert.deepEqual(compareRequest(host.sent[0]!, cap, 'ctrl_c'), []);
  const terminate = (o: string, c: string) => o === c.replace(/ctrl_c$/, 'terminate');
  assert.deepEqual(compareRequest(host.sent[1]!, cap, 'terminate', { text: { Code: terminate } }), []);
});

test('Delete matches shell_delete_request.xml (empty body, ShellId selector)', async () => {
  const { host, shell } = shellFor('shell_delete_request.xml', 'shell_delete_response.xml');
  await shell.close();
  assert.deepEqual(compareRequest(host.sent[0]!, fixture('shell_delete_request.xml'), 'delete'), []);
  assert.equal(view(host.sent[0]!, 'ours').body.children.length, 0);
});

test('the client cannot send the negative OperationTimeout Windows faults with 2150858767', () => {
  const bad = view(fixture('fault_invalid_timeout_header_request.xml'), 'f').header.children.find(
    (h) => h.local === 'OperationTimeout',
  )!.text;
  assert.equal(bad, 'PT-1S');
  for (const sec of [20, 60, 0.5, 60.5, 3600]) assert.match(formatDuration(sec), ISO_DURATION);
  for (const operationSec of [0, -1]) {
    assert.throws(
      () =>
        createWinrmClient({
          host: 'h',
          auth: 'basic',
          username: 'u',
          password: 'p',
          timeouts: { connectMs: 1000, readMs: 1000, operationSec },
        }),
      TypeError,
    );
  }
});
