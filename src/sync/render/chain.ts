// The provider's --construct-pem-chain (fetchCertChains): a certificate's
// chain ordered leaf → intermediate → root, linked only by key identifiers
// (a certificate's authorityKeyIdentifier against another's
// subjectKeyIdentifier; names are never compared). When the links do not
// reach every certificate (a gap, or one that belongs to no chain), the
// provider keeps the order the archive had, and so do we: dropping or
// reordering part of a chain would hand a server something else than the
// add-on does.
import { X509Certificate } from 'node:crypto';
import forge from 'node-forge';

const OID_SUBJECT_KEY_ID = '2.5.29.14';
const OID_AUTHORITY_KEY_ID = '2.5.29.35';

interface KeyIds {
  /** Hex; undefined when the extension (or its keyIdentifier) is absent. */
  subject?: string;
  authority?: string;
}

/** The certificates in the provider's order, or why it refuses them. */
export function orderChain(certs: readonly Buffer[]): Buffer[] {
  const ids = certs.map((der) => {
    // Go's x509.ParseCertificate must take each one.
    new X509Certificate(der);
    return keyIds(der);
  });
  const parent: Array<number | undefined> = certs.map(() => undefined);
  const isParent = certs.map(() => false);
  for (let i = 0; i < certs.length; i++) {
    for (let j = 0; j < certs.length; j++) {
      if (i === j) continue;
      const a = ids[i]!.authority;
      const s = ids[j]!.subject;
      if (a === undefined && s === undefined) continue;
      // Go compares string(nil) as "": an absent identifier equals an empty one.
      if ((a ?? '') === (s ?? '')) {
        isParent[j] = true;
        parent[i] = j;
        break;
      }
    }
  }
  let at: number | undefined = isParent.indexOf(false);
  if (at < 0) throw new Error('the certificate chain has no leaf: every certificate issued another');
  const chain: Buffer[] = [];
  while (at !== undefined) {
    if (chain.length >= certs.length) throw new Error('the certificate chain has a cycle');
    chain.push(certs[at]!);
    at = parent[at];
  }
  return chain.length === certs.length ? chain : [...certs];
}

// The two extensions, read from the DER (node's X509Certificate does not expose them).
function keyIds(der: Buffer): KeyIds {
  const out: KeyIds = {};
  const cert = forge.asn1.fromDer(der.toString('binary'));
  const tbs = (cert.value as forge.asn1.Asn1[])[0];
  const extensions = (tbs?.value as forge.asn1.Asn1[] | undefined)?.find((n) => n.tagClass === forge.asn1.Class.CONTEXT_SPECIFIC && n.type === 3);
  const list = (extensions?.value as forge.asn1.Asn1[] | undefined)?.[0]?.value as forge.asn1.Asn1[] | undefined;
  for (const ext of list ?? []) {
    const parts = ext.value as forge.asn1.Asn1[];
    const id = forge.asn1.derToOid(parts[0]!.value as string);
    const value = parts[parts.length - 1]!.value as string;
    if (id === OID_SUBJECT_KEY_ID) {
      out.subject = hex((forge.asn1.fromDer(value).value as string));
    } else if (id === OID_AUTHORITY_KEY_ID) {
      const keyId = (forge.asn1.fromDer(value).value as forge.asn1.Asn1[]).find((n) => n.tagClass === forge.asn1.Class.CONTEXT_SPECIFIC && n.type === 0);
      if (keyId !== undefined) out.authority = hex(keyId.value as string);
    }
  }
  return out;
}

function hex(binary: string): string {
  return Buffer.from(binary, 'binary').toString('hex');
}
