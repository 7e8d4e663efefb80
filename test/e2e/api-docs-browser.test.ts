import { test } from 'node:test';
import assert from 'node:assert/strict';
import { accessSync, constants, mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import puppeteer, { type Browser } from 'puppeteer-core';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { skipUnlessRequired } from '../helpers/skip.ts';

// Debian's chromium package (.ci/run installs it); NMSLITE_TEST_CHROMIUM points elsewhere.
const CHROMIUM = process.env.NMSLITE_TEST_CHROMIUM ?? '/usr/bin/chromium';
const ARTIFACTS = fileURLToPath(new URL('../../test-artifacts/', import.meta.url));
const SCREENSHOT = `${ARTIFACTS}api-docs.png`;

function chromiumMissing(): string | undefined {
  try {
    accessSync(CHROMIUM, constants.X_OK);
    return undefined;
  } catch {
    return `no Chromium at ${CHROMIUM} (apt-get install chromium, or set NMSLITE_TEST_CHROMIUM)`;
  }
}

test('/api/docs renders every endpoint of the OpenAPI document in Chromium, with no errors and nothing from another site', {
  skip: skipUnlessRequired(chromiumMissing()),
  timeout: 300_000,
}, async (t) => {
  let s: TestServer | undefined;
  let browser: Browser | undefined;
  try {
    s = await startTestServer();
    const origin = s.url;
    const doc = (await s.api('GET', '/api/v1/openapi.json', undefined, null)).body as {
      paths: Record<string, Record<string, unknown>>;
    };
    const expected = Object.entries(doc.paths)
      .flatMap(([path, ms]) => Object.keys(ms).map((m) => `${m.toUpperCase()} ${path}`))
      .sort();
    assert.ok(expected.length >= 40, `only ${expected.length} operations`);

    browser = await puppeteer.launch({
      executablePath: CHROMIUM,
      headless: true,
      // CI runs as root, where Chromium's sandbox cannot start; the test server's certificate is self-signed.
      args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu', '--no-first-run'],
      acceptInsecureCerts: true,
      // puppeteer's default is 30 s; Chromium's first start on a loaded machine can take longer.
      timeout: 120_000,
    });
    const page = await browser.newPage();
    await page.setViewport({ width: 1280, height: 900 });
    const problems: string[] = [];
    const requested: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warn') problems.push(`console ${m.type()}: ${m.text()}`);
    });
    page.on('pageerror', (e) => problems.push(`page error: ${(e as Error).message ?? e}`));
    page.on('request', (r) => requested.push(r.url()));
    page.on('requestfailed', (r) => problems.push(`request failed: ${r.url()} ${r.failure()?.errorText}`));
    page.on('response', (r) => {
      if (r.status() >= 400) problems.push(`HTTP ${r.status()}: ${r.url()}`);
    });
    // CSP violations and network errors reach the browser's log, not always the console API.
    const cdp = await page.createCDPSession();
    await cdp.send('Log.enable');
    cdp.on('Log.entryAdded', ({ entry }) => {
      if (entry.level === 'error' || entry.level === 'warning')
        problems.push(`log ${entry.level} (${entry.source}): ${entry.text} ${entry.url ?? ''}`);
    });
    // Page code as text: the test is compiled without the DOM library.
    await page.evaluateOnNewDocument(
      "document.addEventListener('securitypolicyviolation', (e) => console.error('CSP violation: ' + e.violatedDirective + ' ' + e.blockedURI));",
    );

    const r = await page.goto(`${origin}/api/docs`, { waitUntil: 'networkidle0', timeout: 120_000 });
    assert.equal(r?.status(), 200);
    assert.equal(new URL(page.url()).pathname, '/api/docs/', 'redirected to the trailing-slash page');
    await page.waitForSelector('.opblock .opblock-summary-path', { timeout: 120_000 });
    await page.waitForFunction(`document.querySelectorAll('.opblock').length >= ${expected.length}`, {
      timeout: 60_000,
    });

    const listed = await page.$$eval('.opblock', (els) =>
      els.map((el) => {
        const method = el.querySelector('.opblock-summary-method')?.textContent?.trim() ?? '?';
        const path = el.querySelector('.opblock-summary-path')?.getAttribute('data-path') ?? '?';
        return `${method.toUpperCase()} ${path}`;
      }),
    );
    assert.deepEqual([...new Set(listed)].sort(), expected, 'every path and method of the document is on the page');
    assert.equal(listed.length, expected.length, 'each operation listed once');
    assert.equal(await page.$eval('.info .title', (el) => el.textContent?.includes('NMSlite API')), true);

    // One operation opened: its description, request example and the shared Error responses are shown.
    await page.$$eval('.opblock', (els) => {
      const el = els.find(
        (e) =>
          e.querySelector('.opblock-summary-path')?.getAttribute('data-path') === '/agents' &&
          e.classList.contains('opblock-post'),
      );
      (el?.querySelector('.opblock-summary-control') as unknown as { click(): void } | null)?.click();
    });
    await page.waitForSelector('.opblock-post.is-open .responses-table', { timeout: 60_000 });
    const opened = await page.$eval('.opblock-post.is-open', (el) => el.textContent ?? '');
    assert.match(opened, /one-time enrollment token/, 'the description');
    assert.match(opened, /site-hamburg/, 'the request example');
    const codes = await page.$$eval('.opblock-post.is-open .responses-table .response[data-code]', (els) =>
      els.map((el) => el.getAttribute('data-code')),
    );
    assert.deepEqual(codes, ['201', '400', '401', '409', '500']);
    assert.match(opened, /VALIDATION_ERROR|UNAUTHORIZED/, 'an Error example');

    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    t.diagnostic(`screenshot: ${SCREENSHOT}`);
    console.log(`api docs screenshot: ${SCREENSHOT}`);

    const foreign = requested.filter((u) => !u.startsWith(`${origin}/`) && !u.startsWith('data:'));
    assert.deepEqual(foreign, [], 'the page loaded something from another site');
    assert.ok(requested.some((u) => u === `${origin}/api/docs/swagger-ui-bundle.js`));
    assert.ok(requested.some((u) => u === `${origin}/api/v1/openapi.json`));
    assert.deepEqual(problems, [], 'the page logged errors');
  } finally {
    await browser?.close();
    await s?.stop();
  }
});
