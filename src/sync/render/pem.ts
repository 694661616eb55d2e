// PEM the way Go's encoding/pem reads and writes it, so that what we write is
// byte for byte what the Azure provider and the CSI driver write: LF line
// endings, 64-character base64 lines, a newline after the END line, headers
// Proc-Type first; decoding skips malformed blocks and text between blocks.
import { decodeStdBase64 } from './encoding.ts';

export interface PemBlock {
  type: string;
  headers: Map<string, string>;
  bytes: Buffer;
}

/** pem.EncodeToMemory: returned as a latin1 string (PEM is ASCII). */
export function encodePem(type: string, bytes: Uint8Array, headers?: ReadonlyMap<string, string>): string {
  let out = `-----BEGIN ${type}-----\n`;
  if (headers !== undefined && headers.size > 0) {
    // Go writes Proc-Type first, then the other headers sorted.
    const procType = headers.get('Proc-Type');
    if (procType !== undefined) out += `Proc-Type: ${procType}\n`;
    for (const key of [...headers.keys()].filter((k) => k !== 'Proc-Type').sort()) {
      out += `${key}: ${headers.get(key)}\n`;
    }
    out += '\n';
  }
  const body = Buffer.from(bytes).toString('base64');
  for (let i = 0; i < body.length; i += 64) out += `${body.slice(i, i + 64)}\n`;
  return `${out}-----END ${type}-----\n`;
}

/**
 * Every block pem.Decode would find, in order. Like Go, malformed blocks
 * and text between blocks are skipped.
 */
export function decodePemBlocks(data: Buffer): PemBlock[] {
  const blocks: PemBlock[] = [];
  let rest = data.toString('latin1');
  for (;;) {
    const decoded = decodeOnePem(rest);
    if (decoded === undefined) return blocks;
    blocks.push(decoded.block);
    rest = decoded.rest;
  }
}

// A port of Go's pem.Decode, on a latin1 string.
function decodeOnePem(data: string): { block: PemBlock; rest: string } | undefined {
  let rest = data;
  for (;;) {
    if (rest.startsWith('-----BEGIN ')) {
      rest = rest.slice('-----BEGIN '.length);
    } else {
      const at = rest.indexOf('\n-----BEGIN ');
      if (at < 0) return undefined;
      rest = rest.slice(at + '\n-----BEGIN '.length);
    }
    let typeLine: string;
    [typeLine, rest] = getLine(rest);
    if (!typeLine.endsWith('-----')) continue;
    const type = typeLine.slice(0, -'-----'.length);

    const headers = new Map<string, string>();
    let truncated = false;
    for (;;) {
      if (rest.length === 0) {
        truncated = true;
        break;
      }
      const [line, next] = getLine(rest);
      const colon = line.indexOf(':');
      if (colon < 0) break;
      headers.set(line.slice(0, colon).trim(), line.slice(colon + 1).trim());
      rest = next;
    }
    if (truncated) return undefined;

    let endIndex: number;
    let endTrailerIndex: number;
    if (headers.size === 0 && rest.startsWith('-----END ')) {
      endIndex = 0;
      endTrailerIndex = '-----END '.length;
    } else {
      endIndex = rest.indexOf('\n-----END ');
      endTrailerIndex = endIndex + '\n-----END '.length;
    }
    if (endIndex < 0) continue;
    const trailerLen = type.length + '-----'.length;
    const endTrailer = rest.slice(endTrailerIndex, endTrailerIndex + trailerLen);
    if (endTrailer.length < trailerLen || !endTrailer.startsWith(type) || !endTrailer.endsWith('-----')) continue;
    const [afterEnd] = getLine(rest.slice(endTrailerIndex + trailerLen));
    if (afterEnd.length !== 0) continue;
    const bytes = decodeStdBase64(rest.slice(0, endIndex).replace(/[ \t]/g, ''));
    if (bytes === undefined) continue;
    const [, remaining] = getLine(rest.slice(endIndex + '\n-----END '.length - 1));
    return { block: { type, headers, bytes }, rest: remaining };
  }
}

// Go's getLine: the first line without trailing spaces/tabs/CR, and the rest.
function getLine(data: string): [string, string] {
  let i = data.indexOf('\n');
  let j: number;
  if (i < 0) {
    i = data.length;
    j = i;
  } else {
    j = i + 1;
    if (i > 0 && data[i - 1] === '\r') i--;
  }
  return [data.slice(0, i).replace(/[ \t]+$/, ''), data.slice(j)];
}

/** The provider's splitCertAndKey: CERTIFICATE blocks to one side, every other block to the other. */
export function splitCertAndKey(content: Buffer): { certs: string; keys: string } {
  let certs = '';
  let keys = '';
  for (const block of decodePemBlocks(content)) {
    const pem = encodePem(block.type, block.bytes, block.headers);
    if (block.type === 'CERTIFICATE') certs += pem;
    else keys += pem;
  }
  return { certs, keys };
}
