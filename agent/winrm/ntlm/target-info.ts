import { NTLMSSP_NEGOTIATE_VERSION } from './flags.ts';
import { parseChallenge } from './messages.ts';

/**
 * What a host tells about itself in its NTLM CHALLENGE, before anyone authenticates: the
 * computer and domain names of its target information (MS-NLMP 2.2.2.1 AV_PAIR) and its OS
 * version (MS-NLMP 2.2.2.10 VERSION). Claims, not proof: any listener can send any of them.
 */
export interface NtlmTarget {
  netbiosComputer: string | undefined;
  netbiosDomain: string | undefined;
  dnsComputer: string | undefined;
  dnsDomain: string | undefined;
  dnsTree: string | undefined;
  /** `major.minor.build`, when the CHALLENGE carries a VERSION. */
  osVersion: string | undefined;
}

const MsvAvNbComputerName = 1;
const MsvAvNbDomainName = 2;
const MsvAvDnsComputerName = 3;
const MsvAvDnsDomainName = 4;
const MsvAvDnsTreeName = 5;

/** NetBIOS and DNS names: letters, digits, '.', '-', '_' (no spaces or controls), at most 255. */
const NAME = /^[\p{L}\p{N}._-]{1,255}$/u;

/** AV_PAIR names are always UTF-16LE (MS-NLMP 2.2.2.1), whatever the negotiated charset. */
function name(v: Buffer | undefined): string | undefined {
  if (!v || v.length === 0) return undefined;
  const s = v.toString('utf16le');
  return NAME.test(s) ? s : undefined;
}

/** Throws NtlmProtocolError for a malformed CHALLENGE. */
export function readNtlmTarget(challenge: Buffer): NtlmTarget {
  const ch = parseChallenge(challenge);
  const av = (id: number): Buffer | undefined => ch.avPairs.find((p) => p.id === id)?.value;
  let osVersion: string | undefined;
  // VERSION sits at 48..55 when negotiated, before the payload (whose fields then start at 56 or later).
  const payloadFrom = (lenAt: number): number =>
    challenge.readUInt16LE(lenAt) === 0 ? Infinity : challenge.readUInt32LE(lenAt + 4);
  if (
    ch.flags & NTLMSSP_NEGOTIATE_VERSION &&
    challenge.length >= 56 &&
    Math.min(payloadFrom(12), payloadFrom(40)) >= 56
  ) {
    const major = challenge[48]!;
    const minor = challenge[49]!;
    const build = challenge.readUInt16LE(50);
    if (major > 0) osVersion = `${major}.${minor}.${build}`;
  }
  return {
    netbiosComputer: name(av(MsvAvNbComputerName)),
    netbiosDomain: name(av(MsvAvNbDomainName)),
    dnsComputer: name(av(MsvAvDnsComputerName)),
    dnsDomain: name(av(MsvAvDnsDomainName)),
    dnsTree: name(av(MsvAvDnsTreeName)),
    osVersion,
  };
}
