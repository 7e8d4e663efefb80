import assert from 'node:assert/strict';
import { test, winrmFixture } from '../../test/helpers/fixtures.ts';
import { WinrmFaultError, WinrmInvalidClassError, WinrmQuotaError, WinrmTimeoutError } from './errors.ts';
import { parseIdentifyResponse } from './identify.ts';
import { ACTION, buildEnvelope, buildIdentifyEnvelope, parseSoapResponse, RESOURCE } from './soap.ts';
import { child, childrenNamed, findDeep, parseXml, path } from './xml.ts';

const fixture = winrmFixture;

test('an envelope carries every header Windows expects, with a fresh uuid MessageID', () => {
  const env = buildEnvelope({
    action: ACTION.create,
    resourceUri: RESOURCE.shellCmd,
    to: 'http://h1:5985/wsman',
    maxEnvelopeSize: 512000,
    operationTimeoutSec: 20,
    selectors: { ShellId: 'A&B' },
    options: [
      { name: 'WINRS_NOPROFILE', value: 'TRUE', mustComply: true },
      { name: 'WINRS_CODEPAGE', value: '65001' },
    ],
    body: '<rsp:Shell/>',
  });
  assert.match(env.messageId, /^uuid:[0-9A-F]{8}-[0-9A-F]{4}-4[0-9A-F]{3}-[89AB][0-9A-F]{3}-[0-9A-F]{12}$/);
  const root = parseXml(env.xml);
  const h = child(root, 'Header');
  assert.equal(child(h, 'To')?.text, 'http://h1:5985/wsman');
  assert.equal(path(h, 'ReplyTo', 'Address')?.text, 'http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous');
  assert.equal(path(h, 'ReplyTo', 'Address')?.attrs.mustUnderstand, 'true');
  assert.equal(child(h, 'Action')?.text, 'http://schemas.xmlsoap.org/ws/2004/09/transfer/Create');
  assert.equal(child(h, 'Action')?.attrs.mustUnderstand, 'true');
  assert.equal(child(h, 'MessageID')?.text, env.messageId);
  assert.equal(child(h, 'ResourceURI')?.text, 'http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd');
  assert.equal(child(h, 'MaxEnvelopeSize')?.text, '512000');
  assert.equal(child(h, 'OperationTimeout')?.text, 'PT20S');
  assert.equal(child(h, 'Locale')?.attrs.lang, 'en-US');
  assert.equal(child(h, 'DataLocale')?.attrs.lang, 'en-US');
  const sel = childrenNamed(child(h, 'SelectorSet'), 'Selector');
  assert.deepEqual(
    sel.map((s) => [s.attrs.Name, s.text]),
    [['ShellId', 'A&B']],
  );
  const opts = childrenNamed(child(h, 'OptionSet'), 'Option');
  assert.deepEqual(
    opts.map((o) => [o.attrs.Name, o.text, o.attrs.MustComply]),
    [
      ['WINRS_NOPROFILE', 'TRUE', 'true'],
      ['WINRS_CODEPAGE', '65001', undefined],
    ],
  );
  assert.equal(path(root, 'Body', 'Shell')?.name, 'Shell');
  assert.notEqual(
    buildEnvelope({ action: 'a', resourceUri: 'r', to: 't', maxEnvelopeSize: 1, operationTimeoutSec: 1, body: '' })
      .messageId,
    env.messageId,
  );
  assert.match(env.xml, /xmlns:w="http:\/\/schemas\.dmtf\.org\/wbem\/wsman\/1\/wsman\.xsd"/);
});

test('fractional operation timeouts are written as ISO-8601 seconds', () => {
  const env = buildEnvelope({
    action: 'a',
    resourceUri: 'r',
    to: 't',
    maxEnvelopeSize: 1,
    operationTimeoutSec: 60.5,
    body: '',
  });
  assert.equal(findDeep(parseXml(env.xml), 'OperationTimeout')?.text, 'PT60.500S');
});

test('Identify request has an empty header and the wsmid body', () => {
  const root = parseXml(buildIdentifyEnvelope());
  assert.equal(child(root, 'Header')?.children.length, 0);
  assert.equal(path(root, 'Body', 'Identify')?.name, 'Identify');
});

test('Identify responses give vendor, protocol and stack version', () => {
  const r2 = parseIdentifyResponse(fixture('identify_response_win2008r2_stack2.xml'));
  assert.equal(r2.productVendor, 'Microsoft Corporation');
  assert.equal(r2.protocolVersion, 'http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd');
  assert.equal(r2.productVersion, 'OS: 0.0.0 SP: 0.0 Stack: 2.0');
  assert.equal(r2.stackVersion, '2.0');
  assert.equal(r2.osVersion, '0.0.0');
  assert.equal(parseIdentifyResponse(fixture('identify_response_win2012r2_stack3.xml')).stackVersion, '3.0');
});

test('a response whose RelatesTo names another request is refused', () => {
  const xml = fixture('shell_create_response.xml');
  const relates = findDeep(parseXml(xml), 'RelatesTo')!.text.trim();
  assert.equal(parseSoapResponse(xml, relates).relatesTo, relates);
  assert.equal(parseSoapResponse(xml, relates.toLowerCase()).relatesTo, relates);
  assert.throws(
    () => parseSoapResponse(xml, 'uuid:00000000-0000-4000-8000-000000000000'),
    (e: unknown) => e instanceof WinrmFaultError && e.code === 'relates_to',
  );
});

test('non-XML and non-SOAP answers become a short fault, not a dump', () => {
  assert.throws(
    () => parseSoapResponse('<html><body>oops'),
    (e: unknown) => e instanceof WinrmFaultError && !e.message.includes('<'),
  );
  assert.throws(
    () => parseSoapResponse('<a/>'),
    (e: unknown) => e instanceof WinrmFaultError && e.code === 'bad_response',
  );
  assert.throws(() => parseSoapResponse('<!DOCTYPE x [<!ENTITY a "b">]><x/>'), WinrmFaultError);
});

test('attributes: either quote, spaces around =, entities, > inside a value; xmlns declarations dropped', () => {
  const root = parseXml(
    `<p:R xmlns:p="urn:p" xmlns="urn:d" p:a = 'x &amp; "y"' b="1 > 0" xsi:nil="true"><C/><D e='2'/></p:R>`,
  );
  assert.deepEqual(
    { ...root.attrs },
    { a: 'x & "y"', b: '1 > 0', nil: 'true' },
    'attributes by local name, declarations dropped',
  );
  assert.deepEqual({ ...child(root, 'C')!.attrs }, {}, 'an element without attributes has none');
  assert.equal(child(root, 'D')!.attrs.e, '2', 'single-quoted value');
  assert.equal(parseXml('<a>esc&#x1B;[0m</a>').text, 'esc\u001b[0m', 'a control character WMI data may hold is kept');
  for (const bad of ['<a b/>', '<a b=c/>', '<a b="c/>', '<a =""/>', '<a>x&#0;y</a>', '<a b="&#xD800;"/>']) {
    assert.throws(
      () => parseSoapResponse(bad),
      (e: unknown) => e instanceof WinrmFaultError && e.code === 'bad_response',
      `refused: ${bad}`,
    );
  }
});

const faultCases: [string, new (...args: never[]) => Error, string | undefined, RegExp][] = [
  ['fault_receive_operation_timeout_2150858793_response.xml', WinrmTimeoutError, '2150858793', /OperationTimeout/],
  [
    'fault_enumerate_invalid_class_2150858778_response.xml',
    WinrmInvalidClassError,
    '2150858778',
    /class does not exist/,
  ],
  ['fault_get_invalid_resource_uri_2150858752_response.xml', WinrmInvalidClassError, '2150858752', /resource/],
  [
    'fault_quota_max_shells_2150859173_response.xml',
    WinrmQuotaError,
    '2150859173',
    /maximum number of 30 concurrent shells/,
  ],
  ['fault_max_concurrent_operations_2150859174_response.xml', WinrmQuotaError, '2150859174', /concurrent operations/],
  ['fault_get_shell_invalid_selectors_2150858843_response.xml', WinrmFaultError, '2150858843', /selectors/],
  [
    'fault_invalid_timeout_header_2150858767_response.xml',
    WinrmFaultError,
    '2150858767',
    /invalid SOAP headers|timeout/i,
  ],
  ['fault_command_file_not_found_2147942402_response.xml', WinrmFaultError, '2147942402', /cannot find the file/],
  ['fault_command_filename_too_long_2147942606_response.xml', WinrmFaultError, '2147942606', /too long/],
  ['fault_receive_invalid_parameter_87_response.xml', WinrmFaultError, '87', /parameter is incorrect/],
];

for (const [file, cls, code, msg] of faultCases) {
  test(`fault ${file.replace(/^fault_|_response\.xml$/g, '')} becomes ${cls.name} with code ${code}`, () => {
    const xml = fixture(file);
    try {
      parseSoapResponse(xml);
      assert.fail('expected a fault');
    } catch (err) {
      assert.ok(err instanceof cls, `got ${(err as Error).name}`);
      const e = err as WinrmFaultError;
      assert.equal(e.code, code);
      assert.match(e.message, msg);
      assert.doesNotMatch(e.message, /[<>]|\n/);
      assert.ok(e.message.length < 600);
      const f = e.toFailure();
      assert.equal(f.code, code);
      assert.ok(['timeout', 'quota', 'winrm_fault'].includes(f.class));
    }
  });
}

test('fault subcodes are reported', () => {
  try {
    parseSoapResponse(fixture('fault_get_shell_invalid_selectors_2150858843_response.xml'));
  } catch (err) {
    assert.equal((err as WinrmFaultError).subcode, 'InvalidSelectors');
    assert.equal((err as WinrmFaultError).toFailure().class, 'winrm_fault');
  }
});

test('the config Get response exposes MaxEnvelopeSizekb', () => {
  const res = parseSoapResponse(fixture('get_config_response_maxenvelope500_lab_basic_unencrypted.xml'));
  assert.equal(findDeep(res.body, 'MaxEnvelopeSizekb')?.text, '500');
  assert.equal(findDeep(res.body, 'MaxTimeoutms')?.text, '60000');
});
