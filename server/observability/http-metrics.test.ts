import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createRouteResolver, methodLabel, UNMATCHED_ROUTE } from './http-metrics.ts';

const routeOf = createRouteResolver({
  restBase: '/api/v1',
  rest: {
    '/agents': { get: {}, post: {} },
    '/agents/{id}': { get: {}, put: {}, delete: {} },
    '/agents/enroll': { post: {} },
    '/monitors/{id}/history': { get: {} },
  },
  trpc: ['agents.list', 'monitors.get'],
  fixed: ['/metrics', '/api/v1/openapi.json'],
  prefixes: ['/api/docs', '/install'],
});

test('requests are labelled by their route template, never by the raw URL', () => {
  assert.equal(routeOf('GET', '/api/v1/agents/17'), '/api/v1/agents/{id}');
  assert.equal(routeOf('GET', '/api/v1/agents/17/?x=1'), '/api/v1/agents/{id}');
  assert.equal(routeOf('POST', '/api/v1/agents/enroll'), '/api/v1/agents/enroll');
  assert.equal(routeOf('GET', '/api/v1/monitors/5/history?from=1'), '/api/v1/monitors/{id}/history');
  assert.equal(routeOf('GET', '/metrics?x'), '/metrics');
  assert.equal(routeOf('GET', '/api/docs'), '/api/docs');
  assert.equal(routeOf('GET', '/api/docs/swagger-ui.css'), '/api/docs');
  assert.equal(routeOf('GET', '/install/agent.sh'), '/install');
});

test('unknown paths and procedures share one label', () => {
  assert.equal(routeOf('GET', '/api/v1/nothing/here'), UNMATCHED_ROUTE);
  assert.equal(routeOf('GET', '/wp-login.php'), UNMATCHED_ROUTE);
  assert.equal(routeOf('GET', '/api/docsx'), UNMATCHED_ROUTE);
  assert.equal(routeOf('GET', '/trpc/agents.list'), '/trpc/agents.list');
  assert.equal(routeOf('GET', '/trpc/agents.list,monitors.get'), '/trpc/(batch)');
  assert.equal(routeOf('GET', '/trpc/agents.list,random123'), UNMATCHED_ROUTE);
  assert.equal(routeOf('GET', '/trpc/random123'), UNMATCHED_ROUTE);
});

test('a method outside the standard ones is labelled OTHER', () => {
  assert.equal(methodLabel('GET'), 'GET');
  assert.equal(methodLabel('BREW'), 'OTHER');
  assert.equal(methodLabel(undefined), 'OTHER');
});
