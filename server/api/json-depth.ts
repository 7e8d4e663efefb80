/**
 * The nesting depth of a JSON text, counted without parsing it: `{` and `[` outside strings open a
 * level. Used to refuse deeply nested request bodies before JSON.parse and before any procedure
 * (issue 13 finding 9: a 10k-deep body of ~20 KB was a 500 with a stack trace in the log, without
 * login). Linear in the text, constant memory; stops at the
 * first level past `max`.
 */
export function jsonDepthExceeds(text: string, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c /* \ */) i++;
      else if (c === 0x22 /* " */) inString = false;
      continue;
    }
    if (c === 0x22) inString = true;
    else if (c === 0x7b /* { */ || c === 0x5b /* [ */) {
      if (++depth > max) return true;
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) depth--;
  }
  return false;
}
