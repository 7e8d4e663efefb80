/**
 * What the CLI tells a person at a terminal while it works. Everything goes to stderr and only when
 * stderr is a terminal: piped or redirected, the CLI writes its results (stdout) and errors, nothing
 * else, so scripts and `| jq` see clean output.
 */
export interface CliProgress {
  /** A line saying what is being done or what was learnt ("contacting the server at …"). */
  step(text: string): void;
  /** One line rewritten in place (`\r`), e.g. "swept 120/254 addresses, 3 hosts". */
  update(text: string): void;
  /** Erases a line written by update() (nothing is left behind). */
  clear(): void;
  /** Keeps a line written by update() and moves to the next line. */
  done(): void;
}

type Terminal = Pick<NodeJS.WriteStream, 'write'> & { isTTY?: boolean; columns?: number };

const ERASE_LINE = '\r\x1b[K';

export function createCliProgress(out: Terminal = process.stderr): CliProgress {
  if (!out.isTTY) return { step() {}, update() {}, clear() {}, done() {} };
  let open = false;
  // A line longer than the terminal wraps, and `\r` would then rewrite only its last row.
  const fit = (text: string): string => {
    const width = (out.columns || 80) - 1; // 0 on a terminal whose size was never set
    return text.length > width ? `${text.slice(0, Math.max(0, width - 1))}…` : text;
  };
  return {
    step(text) {
      out.write(`${open ? ERASE_LINE : ''}${text}\n`);
      open = false;
    },
    update(text) {
      out.write(`${ERASE_LINE}${fit(text)}`);
      open = true;
    },
    clear() {
      if (open) out.write(ERASE_LINE);
      open = false;
    },
    done() {
      if (open) out.write('\n');
      open = false;
    },
  };
}
