import pg from 'pg';
import { enableGrafanaReader, GRAFANA_READER_ROLE } from '../../../server/db/grafana-reader.ts';

/** The one password the Grafana tests give the reader role (a role belongs to the whole shared TimescaleDB cluster). */
export const TEST_READER_PASSWORD = 'grafana-reader-test-password';

/** `url` with the reader role's login instead of the superuser's. */
export function readerUrl(url: string, password = TEST_READER_PASSWORD): string {
  const u = new URL(url);
  u.username = GRAFANA_READER_ROLE;
  u.password = password;
  return u.toString();
}

/** Enables the reader, retrying while another test file alters the same role ("tuple concurrently updated"). */
export async function enableTestReader(url: string): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      await enableGrafanaReader(url, TEST_READER_PASSWORD);
      return;
    } catch (err) {
      if (attempt >= 5 || !/concurrently/.test((err as Error).message)) throw err;
      await new Promise((r) => setTimeout(r, 100 * (attempt + 1)));
    }
  }
}

export async function connectAsReader(url: string): Promise<pg.Client> {
  const c = new pg.Client({ connectionString: readerUrl(url) });
  await c.connect();
  return c;
}
