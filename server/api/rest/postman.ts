import { buildOpenApiDocument } from './openapi.ts';

/**
 * The Postman collection users import: one folder with every endpoint of the OpenAPI document, and
 * a "Journey" folder that logs in (storing the token in a collection variable), then creates,
 * reads, updates and deletes every entity in the order the deletion rules allow, with tests on
 * each status code. `npm run postman` regenerates server/api/rest/postman-collection.json.
 */
type Req = {
  name: string;
  method: string;
  path: string;
  body?: unknown;
  expect: number | string;
  save?: Record<string, string>;
  pre?: string[];
};

const J = (v: string) => `{{${v}}}`;
const journey: Req[] = [
  {
    name: 'Log in',
    method: 'POST',
    path: '/auth/login',
    body: { username: J('username'), password: J('password') },
    expect: 200,
    save: { token: 'token' },
  },
  { name: 'Health', method: 'GET', path: '/health', expect: 200 },
  {
    name: 'Create credential profile',
    method: 'POST',
    path: '/credential-profiles',
    body: {
      name: 'WindowsAdmin {{$timestamp}}',
      type: 'winrm_ntlm',
      username: 'administrator',
      password: 'P@ssw0rd123',
      domain: 'CORP',
    },
    expect: 201,
    save: { credentialProfileId: 'id' },
  },
  { name: 'List credential profiles', method: 'GET', path: '/credential-profiles', expect: 200 },
  {
    name: 'Get credential profile',
    method: 'GET',
    path: `/credential-profiles/${J('credentialProfileId')}`,
    expect: 200,
  },
  {
    name: 'Update credential profile',
    method: 'PUT',
    path: `/credential-profiles/${J('credentialProfileId')}`,
    body: { port: 5985 },
    expect: 200,
  },
  {
    name: 'Create agent (one-time enrollment token)',
    method: 'POST',
    path: '/agents',
    body: { name: 'site {{$timestamp}}' },
    expect: 201,
    save: { agentId: 'agent.id', enrollmentToken: 'enrollment_token' },
  },
  { name: 'List agents', method: 'GET', path: '/agents', expect: 200 },
  {
    name: 'Update agent',
    method: 'PUT',
    path: `/agents/${J('agentId')}`,
    body: { name: 'site renamed {{$timestamp}}' },
    expect: 200,
  },
  {
    name: 'Create discovery profile (on siteAgentId when set: a connected agent)',
    method: 'POST',
    path: '/discovery-profiles',
    pre: [
      "if (!pm.variables.get('siteAgentId')) pm.variables.set('siteAgentId', pm.collectionVariables.get('agentId'));",
    ],
    body: {
      name: 'Office {{$timestamp}}',
      agent_id: J('siteAgentId#'),
      credential_profile_id: J('credentialProfileId#'),
      target: J('discoveryTarget'),
      port_scan: true,
    },
    expect: 201,
    save: { discoveryProfileId: 'id' },
  },
  { name: 'Get discovery profile', method: 'GET', path: `/discovery-profiles/${J('discoveryProfileId')}`, expect: 200 },
  {
    name: 'Update discovery profile',
    method: 'PUT',
    path: `/discovery-profiles/${J('discoveryProfileId')}`,
    body: { port_scan: false },
    expect: 200,
  },
  {
    name: 'Run discovery (200 with a connected agent; 503 "no agent connected" otherwise)',
    method: 'POST',
    path: `/discovery-profiles/${J('discoveryProfileId')}/run`,
    expect: 'expectRun',
  },
  {
    name: 'Create device by hand',
    method: 'POST',
    path: '/devices',
    body: { agent_id: J('agentId#'), ip: '10.0.0.5', hostname: 'WIN-POSTMAN' },
    expect: 201,
    save: { deviceId: 'id' },
  },
  { name: 'List devices', method: 'GET', path: '/devices', expect: 200 },
  {
    name: 'Update device',
    method: 'PUT',
    path: `/devices/${J('deviceId')}`,
    body: { hostname: 'WIN-POSTMAN-2' },
    expect: 200,
  },
  {
    name: 'Create plugin',
    method: 'POST',
    path: '/plugins',
    body: { name: 'custom {{$timestamp}}', type: 'external', config: { command: 'check-windows' } },
    expect: 201,
    save: { pluginId: 'id' },
  },
  {
    name: 'Update plugin',
    method: 'PUT',
    path: `/plugins/${J('pluginId')}`,
    body: { description: 'site-specific check' },
    expect: 200,
  },
  {
    name: 'Create monitor',
    method: 'POST',
    path: '/monitors',
    body: {
      device_id: J('deviceId#'),
      credential_profile_id: J('credentialProfileId#'),
      plugin_id: J('pluginId#'),
      polling_interval: 60,
    },
    expect: 201,
    save: { monitorId: 'id' },
  },
  { name: 'Get monitor', method: 'GET', path: `/monitors/${J('monitorId')}`, expect: 200 },
  {
    name: 'Update monitor',
    method: 'PUT',
    path: `/monitors/${J('monitorId')}`,
    body: { polling_interval: 120, enabled: false },
    expect: 200,
  },
  {
    name: 'Latest metrics (404 before the first poll)',
    method: 'GET',
    path: `/monitors/${J('monitorId')}/metrics`,
    expect: 404,
  },
  {
    name: 'Delete credential profile in use (400)',
    method: 'DELETE',
    path: `/credential-profiles/${J('credentialProfileId')}`,
    expect: 400,
  },
  { name: 'Delete monitor', method: 'DELETE', path: `/monitors/${J('monitorId')}`, expect: 204 },
  { name: 'Delete plugin', method: 'DELETE', path: `/plugins/${J('pluginId')}`, expect: 204 },
  {
    name: 'Delete discovery profile',
    method: 'DELETE',
    path: `/discovery-profiles/${J('discoveryProfileId')}`,
    expect: 204,
  },
  {
    name: 'Delete credential profile',
    method: 'DELETE',
    path: `/credential-profiles/${J('credentialProfileId')}`,
    expect: 204,
  },
  { name: 'Delete device', method: 'DELETE', path: `/devices/${J('deviceId')}`, expect: 204 },
  { name: 'Delete agent', method: 'DELETE', path: `/agents/${J('agentId')}`, expect: 204 },
];

/** `{{x#}}` marks a numeric variable: the quotes around it are dropped in the raw body. */
const rawBody = (b: unknown) => JSON.stringify(b, null, 2).replace(/"\{\{(\w+)#\}\}"/g, '{{$1}}');

function item(r: Req) {
  const status = typeof r.expect === 'number' ? String(r.expect) : `Number(pm.variables.get('${r.expect}'))`;
  const exec = [`pm.test('status', () => pm.response.to.have.status(${status}));`];
  for (const [variable, path] of Object.entries(r.save ?? {})) {
    exec.push(
      `pm.collectionVariables.set('${variable}', String(pm.response.json()${path
        .split('.')
        .map((p) => `['${p}']`)
        .join('')}));`,
    );
  }
  return {
    name: r.name,
    event: [
      ...(r.pre ? [{ listen: 'prerequest', script: { type: 'text/javascript', exec: r.pre } }] : []),
      { listen: 'test', script: { type: 'text/javascript', exec } },
    ],
    request: {
      method: r.method,
      header: r.body === undefined ? [] : [{ key: 'Content-Type', value: 'application/json' }],
      url: { raw: `{{baseUrl}}${r.path}`, host: ['{{baseUrl}}'], path: r.path.slice(1).split('/') },
      ...(r.body === undefined
        ? {}
        : { body: { mode: 'raw', raw: rawBody(r.body), options: { raw: { language: 'json' } } } }),
      ...(r.path === '/auth/login' || r.path === '/health' ? { auth: { type: 'noauth' } } : {}),
    },
  };
}

export function buildPostmanCollection(version: string) {
  const doc = buildOpenApiDocument('{{baseUrl}}', version);
  const reference = [];
  for (const [path, ops] of Object.entries(doc.paths ?? {})) {
    for (const [method, op] of Object.entries(ops as Record<string, { summary?: string; operationId?: string }>)) {
      const p = path.replace(/\{(\w+)\}/g, ':$1');
      reference.push({
        name: op.summary ?? `${method.toUpperCase()} ${path}`,
        request: {
          method: method.toUpperCase(),
          header: [{ key: 'Content-Type', value: 'application/json' }],
          url: { raw: `{{baseUrl}}${p}`, host: ['{{baseUrl}}'], path: p.slice(1).split('/') },
        },
      });
    }
  }
  return {
    info: {
      name: 'NMSlite API',
      description:
        'Run "Journey" top to bottom; Log in stores the token. Set baseUrl, username and password in the collection ' +
        'variables. The server uses a self-signed certificate: turn off SSL verification (newman --insecure).',
      schema: 'https://schema.getpostman.com/json/collection/v2.1.0/collection.json',
    },
    auth: { type: 'bearer', bearer: [{ key: 'token', value: '{{token}}', type: 'string' }] },
    variable: [
      { key: 'baseUrl', value: 'https://localhost:8443/api/v1' },
      { key: 'username', value: 'admin' },
      { key: 'password', value: '' },
      { key: 'token', value: '' },
      { key: 'siteAgentId', value: '' },
      { key: 'discoveryTarget', value: '10.0.0.0/24' },
      { key: 'expectRun', value: '503' },
    ],
    item: [
      { name: 'Journey', item: journey.map(item) },
      { name: 'Reference (every endpoint)', item: reference },
    ],
  };
}
