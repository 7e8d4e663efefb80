import { defineConfig } from 'drizzle-kit';

// `npx drizzle-kit generate --config server/db/drizzle.config.ts` writes SQL into migrations/.
export default defineConfig({ dialect: 'postgresql', schema: './server/db/schema.ts', out: './migrations' });
