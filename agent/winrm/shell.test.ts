import assert from 'node:assert/strict';
import { test, winrmFixture } from '../../test/helpers/fixtures.ts';
import { cleanPowerShellStderr, encodePowerShell } from './powershell.ts';
import { decodeOutput, parseReceiveResponse, parseShellCreateResponse, readCommandId } from './shell.ts';
import { parseSoapResponse } from './soap.ts';

const fixture = winrmFixture;

const joined = (page: ReturnType<typeof parseReceiveResponse>, name: string) =>
  Buffer.concat(page.streams.filter((s) => s.name === name).map((s) => s.data));

test('ShellId comes from the Create selector, trimmed, in every capture shape', () => {
  assert.equal(parseShellCreateResponse(fixture('shell_create_response.xml')), '4283CBDC-3706-415B-88BD-B385F3E51A53');
  assert.equal(
    parseShellCreateResponse(fixture('shell_create_response_idle_workingdir.xml')),
    'CBA3E536-A3A2-4B88-9ED3-4919930E15C2',
  );
  assert.equal(
    parseShellCreateResponse(fixture('shell_create_response_multiline_outputstreams.xml')),
    '67A74734-DD32-4F10-89DE-49A060483810',
  );
  assert.equal(
    parseShellCreateResponse(fixture('shell_create_response_with_activityid.xml')),
    '7A271A26-8366-47DD-8B8C-807E1D1C614F',
  );
});

test('CommandId is read from CommandResponse', () => {
  assert.equal(
    readCommandId(parseSoapResponse(fixture('shell_command_response.xml'))),
    'CF84C20A-0A35-43FA-AF78-0B4711DA5F30',
  );
});

test('echo hi: stdout chunk, End markers, Done with exit code 0', () => {
  const page = parseReceiveResponse(fixture('shell_receive_response_echo_hi_done.xml'));
  assert.equal(page.state, 'Done');
  assert.equal(page.exitCode, 0);
  assert.equal(joined(page, 'stdout').toString(), 'hi\r\n');
  assert.equal(joined(page, 'stderr').length, 0);
  assert.deepEqual(
    page.streams.filter((s) => s.end).map((s) => s.name),
    ['stdout', 'stderr'],
  );
});

test('Done without streams carries exit code 123; Running has no exit code', () => {
  const done = parseReceiveResponse(fixture('shell_receive_response_done_no_streams_exitcode123.xml'));
  assert.equal(done.state, 'Done');
  assert.equal(done.exitCode, 123);
  assert.equal(done.streams.length, 0);
  const running = parseReceiveResponse(fixture('shell_receive_response_running_stdout_stderr.xml'));
  assert.equal(running.state, 'Running');
  assert.equal(running.exitCode, undefined);
  assert.equal(joined(running, 'stdout').toString(), "That's all folks!!!");
  assert.equal(joined(running, 'stderr').toString(), "This is stderr, I'm pretty sure!");
});

test('chunks of one stream are concatenated before decoding', () => {
  const two = parseReceiveResponse(fixture('shell_receive_response_powershell_stdin_two_lines.xml'));
  assert.equal(joined(two, 'stdout').toString(), 'output 1\noutput 2\n');
  assert.equal(two.exitCode, 0);
  const dir = parseReceiveResponse(fixture('shell_receive_response_powershell_dir_win2008r2.xml'));
  assert.equal(joined(dir, 'stdout').length, 853);
  assert.equal(joined(dir, 'stderr').length, 407);
  assert.match(joined(dir, 'stdout').toString(), /Directory: C:\\Users\\vagrant/);
  const hello = parseReceiveResponse(fixture('shell_receive_response_cmd_stdin_hello_world.xml'));
  assert.equal(joined(hello, 'stdout').length, 156);
  assert.match(joined(hello, 'stdout').toString(), /Microsoft Windows \[Version 10\.0\.17763\.107\]/);
  assert.match(joined(hello, 'stdout').toString(), /hello world/);
});

test('a UTF-8 character split across chunks decodes once joined', () => {
  const euro = Buffer.from('€', 'utf8');
  const joinedBytes = Buffer.concat([euro.subarray(0, 1), euro.subarray(1)]);
  assert.equal(decodeOutput(joinedBytes, 65001), '€');
});

test('CLIXML stderr is reduced to the error text', () => {
  const page = parseReceiveResponse(fixture('shell_receive_response_powershell_write_error_clixml_exit1.xml'));
  assert.equal(page.exitCode, 1);
  const raw = joined(page, 'stderr').toString();
  assert.equal(raw.length, 481);
  assert.ok(raw.startsWith('#< CLIXML'));
  const clean = cleanPowerShellStderr(raw);
  assert.ok(!clean.includes('CLIXML') && !clean.includes('<'));
  assert.match(clean, /^Write-Error "Error" : Error\r\n/);
  assert.match(clean, /FullyQualifiedErrorId : Microsoft.PowerShell.Commands.WriteErrorExceptio/);
});

test('CLIXML made only of progress records becomes empty', () => {
  const progress =
    '#< CLIXML\r\n<Objs Version="1.1.0.1" xmlns="http://schemas.microsoft.com/powershell/2004/04"><Obj S="progress" RefId="0"><TN RefId="0"><T>System.Management.Automation.PSCustomObject</T></TN><MS><I64 N="SourceId">1</I64><PR N="Record"><AV>Preparing modules for first use.</AV></PR></MS></Obj></Objs>';
  assert.equal(cleanPowerShellStderr(progress), '');
  assert.equal(cleanPowerShellStderr('plain error\r\n'), 'plain error\r\n');
});

test('-EncodedCommand is base64 of UTF-16LE (pywinrm capture)', () => {
  assert.equal(encodePowerShell('Write-Error "Error"'), 'VwByAGkAdABlAC0ARQByAHIAbwByACAAIgBFAHIAcgBvAHIAIgA=');
  assert.match(
    fixture('shell_command_request_powershell_encodedcommand.xml'),
    /VwByAGkAdABlAC0ARQByAHIAbwByACAAIgBFAHIAcgBvAHIAIgA=/,
  );
});
