// objectEncoding, as the provider applies it to a secret's final content:
// utf-8 as is, or Go's strict base64 / hex decoding.
import type { ObjectEncoding } from '../spc.ts';

/** The bytes to write for `text` under an objectEncoding; undefined when the text is not in that encoding. */
export function decodeContent(text: string, encoding: ObjectEncoding): Buffer | undefined {
  switch (encoding) {
    case 'utf-8':
      return Buffer.from(text, 'utf8');
    case 'base64':
      return decodeStdBase64(text);
    case 'hex':
      return /^(?:[0-9a-fA-F]{2})*$/.test(text) ? Buffer.from(text, 'hex') : undefined;
  }
}

/**
 * Go's base64.StdEncoding.DecodeString: padding required, CR and LF ignored,
 * anything else outside the alphabet is an error (Node's decoder would skip it).
 */
export function decodeStdBase64(text: string): Buffer | undefined {
  const compact = text.replace(/[\r\n]/g, '');
  if (compact.length % 4 !== 0 || !/^[A-Za-z0-9+/]*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(compact)) {
    return undefined;
  }
  return Buffer.from(compact, 'base64');
}
