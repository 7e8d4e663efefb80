/**
 * What Grafana does to a panel's SQL before the PostgreSQL data source sends it, for the dashboard
 * tests (Grafana itself cannot run here). Facts from Grafana's documentation and its PostgreSQL data
 * source (pkg/tsdb/grafana-postgresql-datasource/macros.go, pkg/tsdb/sqleng, the SQL data sources'
 * interpolateVariable), reimplemented:
 *
 * 1. The browser replaces template variables: `$name`, `${name}`, `[[name]]`. "All" selected
 *    (`$__all`) with a custom all value becomes that value as written; a variable that is
 *    multi-value or has "All" becomes its values each quoted as a string literal, joined by commas;
 *    any other is its raw value.
 * 2. The server replaces `$__interval_ms` (milliseconds), `$__interval` (e.g. `1m`), `$__unixEpochFrom()`
 *    and `$__unixEpochTo()` (epoch seconds), then the macros `$__name(args)`:
 *      $__time(c)            c AS "time"
 *      $__timeEpoch(c)       extract(epoch from c) as "time"
 *      $__timeFilter(c)      c BETWEEN 'from' AND 'to'    (RFC 3339, UTC, fraction trimmed)
 *      $__timeFrom()         'from'            $__timeTo()   'to'
 *      $__timeGroup(c, i)    time_bucket('N.000s',c) with `timescaledb: true`, else floor(extract(epoch from c)/N)*N
 *      $__timeGroupAlias     the same followed by AS "time"
 *      $__unixEpochFilter(c) c >= from AND c <= to          (epoch seconds)
 *
 * Anything else that looks like a macro or variable is an error here, so a typo cannot pass.
 */

export interface GrafanaVariable {
  name: string;
  multi?: boolean;
  includeAll?: boolean;
  /** The custom all value, used unquoted when "All" is selected. */
  allValue?: string;
}

export interface GrafanaQueryContext {
  from: Date;
  to: Date;
  intervalMs: number;
  /** The data source's `timescaledb` option. */
  timescaledb: boolean;
  /** Values by variable name (an array for a multi-value selection). */
  values: Record<string, string | string[]>;
  variables: readonly GrafanaVariable[];
}

export class UnknownMacroError extends Error {
  override readonly name = 'UnknownMacroError';
}

const UNITS: [string, number][] = [
  ['y', 365 * 86_400_000],
  ['w', 7 * 86_400_000],
  ['d', 86_400_000],
  ['h', 3_600_000],
  ['m', 60_000],
  ['s', 1000],
  ['ms', 1],
];

/** Grafana's interval text: the largest unit the interval reaches, whole (60000 → 1m, 3600000 → 1h). */
export function formatInterval(ms: number): string {
  for (const [unit, size] of UNITS) if (ms >= size && unit !== 'w') return `${Math.floor(ms / size)}${unit}`;
  return `${ms}ms`;
}

function parseIntervalSeconds(text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d|w|y)$/.exec(text.replace(/^'|'$/g, ''));
  if (!m) throw new UnknownMacroError(`cannot parse interval ${text}`);
  return (Number(m[1]) * UNITS.find(([u]) => u === m[2])![1]) / 1000;
}

/** Go's RFC3339Nano in UTC: no fraction when it is zero, trailing zeros trimmed. */
function rfc3339(d: Date): string {
  return d.toISOString().replace(/\.(\d*?)0*Z$/, (_, f: string) => (f ? `.${f}Z` : 'Z'));
}

const quote = (v: string): string => `'${v.replace(/'/g, "''")}'`;

export function interpolateVariables(sql: string, ctx: GrafanaQueryContext): string {
  return sql.replace(/\$\{(\w+)\}|\[\[(\w+)\]\]|\$(\w+)/g, (whole, a?: string, b?: string, c?: string) => {
    const name = (a ?? b ?? c)!;
    if (name.startsWith('__')) return whole; // the server's macros and intervals
    const def = ctx.variables.find((v) => v.name === name);
    const value = ctx.values[name];
    if (!def || value === undefined) throw new UnknownMacroError(`unknown template variable $${name}`);
    if ([value].flat().includes('$__all')) {
      if (!def.includeAll || !def.allValue) throw new UnknownMacroError(`$${name}: All needs a custom all value here`);
      return def.allValue;
    }
    if (Array.isArray(value) || def.multi || def.includeAll) return [value].flat().map(quote).join(',');
    return value;
  });
}

export function expandMacros(sql: string, ctx: GrafanaQueryContext): string {
  const fromS = Math.floor(ctx.from.getTime() / 1000);
  const toS = Math.floor(ctx.to.getTime() / 1000);
  let out = sql
    .replaceAll('$__interval_ms', String(ctx.intervalMs))
    .replaceAll('$__interval', formatInterval(ctx.intervalMs))
    .replaceAll('$__unixEpochFrom()', String(fromS))
    .replaceAll('$__unixEpochTo()', String(toS));
  out = out.replace(/\$(\w+)\(([^)]*)\)/g, (_whole, name: string, argText: string) => {
    const args = argText.split(',').map((s) => s.trim());
    const col = (): string => {
      if (!args[0]) throw new UnknownMacroError(`macro ${name} needs a column`);
      return args[0];
    };
    const group = (): string => {
      if (args.length < 2) throw new UnknownMacroError(`macro ${name} needs a column and an interval`);
      if (args.length > 2) throw new UnknownMacroError(`macro ${name}: fill values are not used by these dashboards`);
      const n = parseIntervalSeconds(args[1]!);
      return ctx.timescaledb
        ? `time_bucket('${n.toFixed(3)}s',${col()})`
        : `floor(extract(epoch from ${col()})/${n})*${n}`;
    };
    switch (name) {
      case '__time':
        return `${col()} AS "time"`;
      case '__timeEpoch':
        return `extract(epoch from ${col()}) as "time"`;
      case '__timeFilter':
        return `${col()} BETWEEN '${rfc3339(ctx.from)}' AND '${rfc3339(ctx.to)}'`;
      case '__timeFrom':
        return `'${rfc3339(ctx.from)}'`;
      case '__timeTo':
        return `'${rfc3339(ctx.to)}'`;
      case '__timeGroup':
        return group();
      case '__timeGroupAlias':
        return `${group()} AS "time"`;
      case '__unixEpochFilter':
        return `${col()} >= ${fromS} AND ${col()} <= ${toS}`;
      default:
        throw new UnknownMacroError(`unknown macro $${name}`);
    }
  });
  const left = /\$\{?\w+|\[\[\w+\]\]/.exec(out);
  if (left) throw new UnknownMacroError(`not substituted: ${left[0]}`);
  return out;
}

/** A panel's or variable's SQL as the PostgreSQL data source would send it. */
export function grafanaSql(sql: string, ctx: GrafanaQueryContext): string {
  return expandMacros(interpolateVariables(sql, ctx), ctx);
}
