// Scenario 6, the digest function: HMAC-SHA-256 over 4 KiB values, as the
// controller computes one for every Secret it lists or watches, with
// node:crypto (what src/reloader/digest.ts uses) against crypto-js (what the
// product card named; its authors discontinued it in favour of the native
// crypto module). Both take the value as the API server sends it (base64) and
// must give the same MAC; rounds alternate between them, so a busy machine
// slows both alike.
import { createHmac, randomBytes } from 'node:crypto';
import CryptoJS from 'crypto-js';
import { summarize, type Summary } from '../lib/stats.ts';

export interface DigestResult {
  status: 'ok';
  valueBytes: number;
  rounds: number;
  perRound: number;
  /** Microseconds per MAC. */
  nodeCryptoUs: Summary;
  cryptoJsUs: Summary;
  /** crypto-js time / node:crypto time, round by round. */
  ratio: Summary;
}

export function digest(opts: { rounds: number; perRound: number; valueBytes?: number }): DigestResult {
  const valueBytes = opts.valueBytes ?? 4096;
  const key = randomBytes(32);
  const values = Array.from({ length: 64 }, () => randomBytes(valueBytes).toString('base64'));
  const jsKey = CryptoJS.enc.Hex.parse(key.toString('hex'));
  const viaNode = (b64: string) => createHmac('sha256', key).update(b64, 'base64').digest('hex');
  const viaCryptoJs = (b64: string) => CryptoJS.HmacSHA256(CryptoJS.enc.Base64.parse(b64), jsKey).toString(CryptoJS.enc.Hex);
  for (const v of values.slice(0, 4)) {
    if (viaNode(v) !== viaCryptoJs(v)) throw new Error('node:crypto and crypto-js disagree on HMAC-SHA-256: the comparison would be meaningless');
  }
  const time = (f: (b64: string) => string) => {
    const t = performance.now();
    let sink = 0;
    for (let i = 0; i < opts.perRound; i++) sink += f(values[i % values.length]!).length;
    if (sink === 0) throw new Error('no MAC computed');
    return ((performance.now() - t) * 1000) / opts.perRound;
  };
  // Warm-up: both JIT-compiled before anything counts.
  time(viaNode);
  time(viaCryptoJs);
  const node: number[] = [];
  const js: number[] = [];
  for (let r = 0; r < opts.rounds; r++) {
    // Which one goes first alternates, so neither always runs on a cooler cache or a quieter moment.
    if (r % 2 === 0) {
      node.push(time(viaNode));
      js.push(time(viaCryptoJs));
    } else {
      js.push(time(viaCryptoJs));
      node.push(time(viaNode));
    }
  }
  return {
    status: 'ok',
    valueBytes,
    rounds: opts.rounds,
    perRound: opts.perRound,
    nodeCryptoUs: summarize(node),
    cryptoJsUs: summarize(js),
    ratio: summarize(js.map((v, i) => v / node[i]!)),
  };
}
