import type pg from 'pg';
import { drizzle } from 'drizzle-orm/node-postgres';
import * as schema from '../../server/db/schema.ts';
import type { EventBus } from '../../server/events.ts';
import { createDeviceService } from '../../server/services/devices.ts';
import { createMonitorService } from '../../server/services/monitors.ts';

/** The devices and monitors services over a test database, wired as server/services/index.ts wires them. */
export function createTableServices(pool: pg.Pool, events: EventBus) {
  const db = drizzle(pool, { schema });
  const monitors = createMonitorService(db, events);
  const devices = createDeviceService(db, events, monitors);
  return { db, monitors, devices };
}
