// Parity with the real add-on, byte for byte. Each case of the table below is
// one SecretProviderClass, written once and used twice: mounted by a pod
// through the real Secrets Store CSI driver 1.6.0 and Azure provider 1.8.2 in
// one namespace (the driver syncs its secretObjects), and synced by
// keyvault-reloader's sync engine (`run --mode all` as its own process) in
// another. The Secrets must agree in type and data, key for key and byte for
// byte, and every file the driver mounted must equal what the sync engine
// renders for it (a Secret `mounted-files` added to the engine's copy of the
// class names each mounted file). Where the driver refuses a class or a
// Secret, the sync engine must refuse it too and say why; where we differ on
// purpose (README, "Parity with the add-on") the case says how, and checks it.
//
// The vault objects are written once for every case; one add-on, one
// controller and one pod per case serve the whole file, all cases at once.
import assert from 'node:assert/strict';
import { createPrivateKey, createPublicKey } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import type { V1Secret } from '@kubernetes/client-node';
import type { AddonHandle, VolumeStatus } from '../../src/localenv/addon.ts';
import type { AzureHandle } from '../../src/localenv/azure.ts';
import { mountingPod, testAddon, vaultName } from '../helpers/addon.ts';
import { createNamespace, eventually, type TestEnv } from '../helpers/env.ts';
import { applyClass, ensureServiceAccount, federatedNamespace, startSyncController, syncClass, type SyncController } from '../helpers/sync.ts';
import { goPem, pemBundle, pki } from '../unit/helpers/pki.ts';

const VAULT = vaultName('parity');
const DRIVER_SA = 'app';

interface SecretObject {
  secretName: string;
  type?: string;
  data: Array<{ objectName: string; key: string }>;
}

interface Refusal {
  /** What the driver (or provider) says: its mount error, log line or pod Event. */
  driver: RegExp;
  /** What the sync engine says in a Warning Event on its class. */
  engine: RegExp;
}

interface Case {
  name: string;
  /** Each entry: one object's YAML fields. */
  objects: string[];
  secretObjects: SecretObject[];
  parameters?: Record<string, string>;
  /** The whole class is refused: the driver does not mount it, the sync engine syncs nothing. */
  refused?: Refusal;
  /** These Secrets are refused by both; the class's other Secrets are compared. */
  refusedSecrets?: Record<string, Refusal>;
  /** Deliberate differences: the driver writes this Secret (checked here), the sync engine refuses it. */
  differs?: Record<string, { driver: (data: Record<string, Buffer>) => void; engine: RegExp }>;
}

const fields = (f: Record<string, string>) => Object.entries(f).map(([k, v]) => `${k}: ${v}`).join('\n');
const secret = (objectName: string, more: Record<string, string> = {}) => fields({ objectName, objectType: 'secret', ...more });
/** Secret data keys cannot hold "/": a file `a/0` is key `a__0`. */
const keyOf = (file: string) => file.replace(/\//g, '__');
const opaque = (secretName: string, files: string[], type = 'Opaque'): SecretObject => ({ secretName, type, data: files.map((f) => ({ objectName: f, key: keyOf(f) })) });
const tls = (secretName: string, file: string): SecretObject => ({ secretName, type: 'kubernetes.io/tls', data: [{ objectName: file, key: 'tls.crt' }, { objectName: file, key: 'tls.key' }] });

/**
 * A certificate's every rendering: its secret as PEM (plus the .crt and .key
 * the AKS add-on splits off), as the PFX text and as the binary PFX, its leaf
 * as a cert object, and kubernetes.io/tls Secrets from the PEM and the binary PFX.
 */
function certCase(name: string, cert: string): Case {
  return {
    name,
    objects: [
      secret(cert),
      secret(cert, { objectAlias: `${cert}.pfx`, objectFormat: 'pfx' }),
      secret(cert, { objectAlias: `${cert}.bin`, objectFormat: 'pfx', objectEncoding: 'base64' }),
      fields({ objectName: cert, objectType: 'cert', objectAlias: `${cert}.leaf` }),
    ],
    secretObjects: [opaque('all', [cert, `${cert}.crt`, `${cert}.key`, `${cert}.pfx`, `${cert}.bin`, `${cert}.leaf`]), tls('tls', cert), tls('tls-bin', `${cert}.bin`)],
  };
}

function refusedPfx(name: string, cert: string, driver: RegExp, engine: RegExp): Case {
  return { name, objects: [secret(cert)], secretObjects: [opaque('all', [cert])], refused: { driver, engine } };
}

/** The table. `v` holds the versions the seed wrote, for pinned cases. */
function cases(v: { one: string; three: string }): Case[] {
  return [
    {
      name: 'secrets',
      objects: [
        secret('plain', { objectAlias: 'plain.txt' }),
        secret('plain', { objectAlias: 'dir/nested', objectEncoding: 'utf-8' }),
        secret('b64', { objectEncoding: 'base64' }),
        secret('hexed', { objectEncoding: 'HEX' }),
        secret('multi', { objectAlias: 'pinned', objectVersion: v.one }),
      ],
      secretObjects: [opaque('app', ['plain.txt', 'dir/nested', 'b64', 'hexed', 'pinned']), opaque('custom', ['plain.txt'], 'example.com/bundle'), opaque('spaced', ['b64'], '  ')],
    },
    // objectVersionHistory 2 writes three files (the provider's N + 1), newest first, skipping the disabled version.
    {
      name: 'history',
      objects: [secret('multi', { objectAlias: 'hist', objectVersionHistory: '2' }), secret('plain', { objectVersionHistory: '1' })],
      secretObjects: [opaque('hist', ['hist/0', 'hist/1', 'hist/2', 'plain'])],
    },
    { name: 'history-pinned', objects: [secret('multi', { objectAlias: 'from', objectVersion: v.three, objectVersionHistory: '3' })], secretObjects: [opaque('hist', ['from/0', 'from/1'])] },
    // A history's files are joined to the alias, which cleans it: both accept "./h".
    { name: 'history-dot-slash', objects: [secret('multi', { objectAlias: './h', objectVersionHistory: '2' })], secretObjects: [opaque('hist', ['h/0', 'h/1'])] },
    {
      name: 'keys',
      objects: ['rsa-key', 'ec-256', 'ec-384', 'ec-521'].map((k) => fields({ objectName: k, objectType: 'key' })),
      secretObjects: [opaque('keys', ['rsa-key', 'ec-256', 'ec-384', 'ec-521'])],
    },
    certCase('cert-full', 'c-full'),
    certCase('cert-partial', 'c-partial'),
    certCase('cert-unordered', 'c-unordered'),
    certCase('cert-gap', 'c-gap'),
    certCase('cert-extra', 'c-extra'),
    certCase('cert-leaf-only', 'c-leafonly'),
    certCase('cert-ec', 'c-ec'),
    certCase('cert-ec-no-public-key', 'c-ec-nopub'),
    certCase('cert-rsa-leaf-ec-chain', 'c-mixed'),
    {
      name: 'cert-pem',
      objects: [secret('c-pem'), fields({ objectName: 'c-pem', objectType: 'cert', objectAlias: 'c-pem.leaf' }), secret('c-pem-ec-nopub')],
      secretObjects: [opaque('all', ['c-pem', 'c-pem.crt', 'c-pem.key', 'c-pem.leaf', 'c-pem-ec-nopub', 'c-pem-ec-nopub.crt', 'c-pem-ec-nopub.key']), tls('tls', 'c-pem'), tls('tls-ec', 'c-pem-ec-nopub')],
    },
    {
      name: 'plain-tls',
      objects: [secret('plain-pem'), secret('plain-pfx', { objectAlias: 'plain.bin', objectEncoding: 'base64' })],
      secretObjects: [opaque('all', ['plain-pem', 'plain.bin']), tls('tls-pem', 'plain-pem'), tls('tls-bin', 'plain.bin')],
    },
    { name: 'cloud-alias', objects: [secret('plain')], parameters: { cloudName: 'AzureCloud' }, secretObjects: [opaque('app', ['plain'])] },
    { name: 'cloud-case', objects: [secret('plain')], parameters: { cloudName: ' azurepubliccloud ' }, secretObjects: [opaque('app', ['plain'])] },
    // The provider checks "pfx only with secrets" case-sensitively: PFX on a cert is ignored.
    { name: 'format-upper-on-cert', objects: [fields({ objectName: 'c-full', objectType: 'cert', objectFormat: 'PFX' })], secretObjects: [opaque('app', ['c-full'])] },
    {
      name: 'secret-types',
      objects: [secret('plain')],
      secretObjects: [
        { secretName: 'omitted', data: [{ objectName: 'plain', key: 'v' }] },
        { secretName: 'empty', type: '', data: [{ objectName: 'plain', key: 'v' }] },
        opaque('fine', ['plain']),
      ],
      refusedSecrets: {
        omitted: { driver: /secret type is empty/, engine: /^InvalidSecretProviderClass: Secret secret-types-omitted, secret-types-empty not synced \(the class's other Secrets are\): spec\.secretObjects\[0\]\.type: required/m },
        empty: { driver: /secret type is empty/, engine: /spec\.secretObjects\[1\]\.type: required/ },
      },
    },
    // One class per archive: the driver's reader (Go's) refuses each for its own reason.
    ...([
      ['modern', /unknown digest algorithm/, /has a MAC with SHA-256/],
      ['indefinite', /indefinite length/, /is BER, not DER/],
      ['keybag', /don't know how to convert a safe bag/, /holds a safe bag of type keyBag/],
    ] as const).map(([kind, driver, engine]): Case => ({
      name: `tls-pfx-${kind}`,
      objects: [secret(`plain-pfx-${kind}`, { objectAlias: `${kind}.bin`, objectEncoding: 'base64' })],
      secretObjects: [opaque('all', [`${kind}.bin`]), tls('tls', `${kind}.bin`)],
      refusedSecrets: {
        tls: {
          driver: new RegExp(`-tls, err: .*${driver.source}`),
          engine: new RegExp(`"${kind}\\.bin": holds neither PEM blocks nor a PKCS#12 archive the add-on can read \\(the PKCS#12 archive ${engine.source}`),
        },
      },
    })),
    {
      name: 'tls-key-not-private',
      objects: [secret('plain-pubkey')],
      secretObjects: [tls('tls', 'plain-pubkey')],
      differs: {
        tls: {
          // The driver finds no private key it can parse and writes an empty PRIVATE KEY block.
          driver: (data) => assert.equal(data['tls.key']?.toString('latin1'), '-----BEGIN PRIVATE KEY-----\n-----END PRIVATE KEY-----\n'),
          engine: /data\[1\]: .*not PKCS#1, PKCS#8 or SEC 1/,
        },
      },
    },
    { name: 'alias-dot-slash', objects: [secret('plain', { objectAlias: './x' })], secretObjects: [], refused: { driver: /invalid filepath: "\.\/x"/, engine: /objectAlias: "\.\/x" is not a clean path, which the driver refuses: write "x"/ } },
    { name: 'alias-trailing-slash', objects: [secret('plain', { objectAlias: 'x/' })], secretObjects: [], refused: { driver: /invalid filepath: "x\/"/, engine: /objectAlias: "x\/" is not a clean path, which the driver refuses: write "x"/ } },
    { name: 'alias-double-slash', objects: [secret('plain', { objectAlias: 'a//b' })], secretObjects: [], refused: { driver: /invalid filepath: "a\/\/b"/, engine: /objectAlias: "a\/\/b" is not a clean path, which the driver refuses: write "a\/b"/ } },
    { name: 'alias-dot-dot', objects: [secret('plain', { objectAlias: 'a/../b' })], secretObjects: [], refused: { driver: /must not contain '\.\.'/, engine: /must not contain "\.\."/ } },
    refusedPfx('pfx-modern', 'c-modern', /unknown digest algorithm/, /c-modern \(version \w+\): could not be rendered: the PKCS#12 archive has a MAC with SHA-256/),
    refusedPfx('pfx-no-mac', 'c-nomac', /no MAC in data/, /c-nomac \(version \w+\): could not be rendered: the PKCS#12 archive has no MAC/),
    refusedPfx('pfx-key-bag', 'c-keybag', /don't know how to convert a safe bag/, /c-keybag \(version \w+\): could not be rendered: the PKCS#12 archive holds a safe bag of type keyBag/),
    { name: 'cloud-unknown', objects: [secret('plain')], parameters: { cloudName: 'AzurePublic' }, secretObjects: [], refused: { driver: /cloudName AzurePublic is not valid/, engine: /cloudName: "AzurePublic" is not a cloud/ } },
    { name: 'stack-without-file', objects: [secret('plain')], parameters: { cloudName: 'AzureStackCloud' }, secretObjects: [], refused: { driver: /cloudName AzureStackCloud is not valid/, engine: /cloudEnvFileName: required with cloudName AzureStackCloud/ } },
    { name: 'encoding-on-cert', objects: [fields({ objectName: 'c-full', objectType: 'cert', objectEncoding: 'base64' })], secretObjects: [], refused: { driver: /objectEncoding only supported for objectType: secret/, engine: /objectEncoding: is only available with objectType secret/ } },
  ];
}

/** Writes every vault object the table uses; returns the versions pinned cases name. */
async function seed(azure: AzureHandle): Promise<{ one: string; three: string }> {
  const { secrets, keys } = azure.admin.vault(VAULT);
  const p = pki();
  const binary = Buffer.from([0, 1, 2, 0x7f, 0x80, 0xfe, 0xff, 10, 13]);
  const imports: Array<[string, Parameters<AzureHandle['admin']['importCertificate']>[2]]> = [
    ['c-full', { pfx: p.pfx.rsaLegacy }],
    ['c-partial', { pfx: p.pfx.rsaPartial }],
    ['c-unordered', { pfx: p.pfx.rsaUnordered }],
    ['c-gap', { pfx: p.pfx.rsaGap }],
    ['c-extra', { pfx: p.pfx.rsaExtra }],
    ['c-leafonly', { pfx: p.pfx.leafOnly }],
    ['c-ec', { pfx: p.pfx.ec }],
    ['c-ec-nopub', { pfx: p.pfx.ecWithoutPublicKey }],
    ['c-mixed', { pfx: p.pfx.rsaLeafEcChain }],
    ['c-modern', { pfx: p.pfx.rsaModern }],
    ['c-nomac', { pfx: p.pfx.rsaNoMac }],
    ['c-keybag', { pfx: p.pfx.rsaKeyBag }],
    ['c-pem', { pem: pemBundle(p.rsa.leaf.keyDer, [p.rsa.leaf, p.rsa.root, p.rsa.intermediate]) }],
    ['c-pem-ec-nopub', { pem: pemBundle(p.ec.leafKeyWithoutPublicDer, [p.ec.leaf, p.ec.intermediate]) }],
  ];
  const spki = createPublicKey(createPrivateKey({ key: p.rsa.leaf.keyDer, format: 'der', type: 'pkcs8' })).export({ type: 'spki', format: 'der' });
  await Promise.all([
    secrets.setSecret('plain', 'hellö wörld\n'),
    secrets.setSecret('b64', binary.toString('base64')),
    secrets.setSecret('hexed', binary.toString('hex').toUpperCase()),
    secrets.setSecret('plain-pem', pemBundle(p.ec.leaf.keyDer, [p.ec.leaf, p.ec.intermediate]), { contentType: 'application/x-pem-file' }),
    secrets.setSecret('plain-pubkey', p.rsa.leaf.certPem + goPem('PUBLIC KEY', spki)),
    secrets.setSecret('plain-pfx', p.pfx.rsaLegacy.toString('base64'), { contentType: 'application/x-pkcs12' }),
    secrets.setSecret('plain-pfx-modern', p.pfx.rsaModern.toString('base64'), { contentType: 'application/x-pkcs12' }),
    secrets.setSecret('plain-pfx-indefinite', p.pfx.rsaIndefinite.toString('base64'), { contentType: 'application/x-pkcs12' }),
    secrets.setSecret('plain-pfx-keybag', p.pfx.rsaKeyBag.toString('base64'), { contentType: 'application/x-pkcs12' }),
    keys.createRsaKey('rsa-key', { keySize: 2048 }),
    keys.createEcKey('ec-256', { curve: 'P-256' }),
    keys.createEcKey('ec-384', { curve: 'P-384' }),
    keys.createEcKey('ec-521', { curve: 'P-521' }),
    ...imports.map(([name, cert]) => azure.admin.importCertificate(VAULT, name, cert)),
  ]);
  // Versions are ordered by creation time, in seconds: the vault's clock moves on between them.
  const versions: string[] = [];
  for (const value of ['one', 'two', 'three', 'four']) {
    versions.push((await secrets.setSecret('multi', value)).properties.version!);
    await azure.faults.vaultClock({ advanceSeconds: 2 });
  }
  await azure.faults.vaultClock({ offsetSeconds: 0 });
  await secrets.updateSecretProperties('multi', versions[1]!, { enabled: false });
  return { one: versions[0]!, three: versions[2]! };
}

/** Where the first difference is, for a failure message (test values only, none of them real secrets). */
function firstDifference(driver: Buffer, engine: Buffer): string | undefined {
  if (driver.equals(engine)) return undefined;
  let i = 0;
  while (i < driver.length && i < engine.length && driver[i] === engine[i]) i++;
  const around = (b: Buffer) => JSON.stringify(b.subarray(Math.max(0, i - 12), i + 12).toString('latin1'));
  const at = (b: Buffer) => (i < b.length ? `0x${b[i]!.toString(16).padStart(2, '0')}` : 'end');
  return `first difference at byte ${i}: driver ${at(driver)} (${driver.length} bytes) vs engine ${at(engine)} (${engine.length} bytes); around it, driver ${around(driver)}, engine ${around(engine)}`;
}

function dataOf(secret: V1Secret): Record<string, Buffer> {
  return Object.fromEntries(Object.entries(secret.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64')]));
}

/** Every difference between the driver's Secret and the engine's: type, keys, then bytes. */
function secretDifferences(name: string, driver: V1Secret, engine: V1Secret): string[] {
  const out: string[] = [];
  if ((driver.type ?? 'Opaque') !== (engine.type ?? 'Opaque')) out.push(`Secret ${name}: type ${driver.type} (driver) vs ${engine.type} (engine)`);
  const d = dataOf(driver);
  const e = dataOf(engine);
  for (const key of new Set([...Object.keys(d), ...Object.keys(e)])) {
    if (!(key in e)) out.push(`Secret ${name}, key ${key}: only the driver wrote it`);
    else if (!(key in d)) out.push(`Secret ${name}, key ${key}: only the engine wrote it`);
    else {
      const diff = firstDifference(d[key]!, e[key]!);
      if (diff) out.push(`Secret ${name}, key ${key}: ${diff}`);
    }
  }
  return out;
}

/** One read of the cluster shared by every case's waits (each would otherwise list on its own). */
function shared<T>(read: () => Promise<T>, ttlMs = 500): () => Promise<T> {
  let last: { at: number; value: Promise<T> } | undefined;
  return () => {
    if (!last || Date.now() - last.at > ttlMs) {
      const value = read();
      value.catch(() => {});
      last = { at: Date.now(), value };
    }
    return last.value;
  };
}

/** Its Secrets carry the case's name: every case writes into the same two namespaces. */
function owned(c: Case, list: SecretObject[]): SecretObject[] {
  return list.map((so) => ({ ...so, secretName: `${c.name}-${so.secretName}` }));
}

/** Waits for a condition; on time-out records why (with what was seen) and returns undefined, so a case reports every problem it has. */
async function waitOr<T>(problems: string[], what: string, check: () => Promise<T | undefined | false>, seen: () => Promise<string>, timeoutMs = 60_000): Promise<T | undefined> {
  try {
    return await eventually(what, check, timeoutMs, 500);
  } catch (err) {
    problems.push(`${(err as Error).message}; seen: ${(await seen()).trim() || 'nothing'}`);
    return undefined;
  }
}

describe('parity with the real add-on, byte for byte, and the same refusals', () => {
  let env: TestEnv;
  let azure: AzureHandle;
  let addon: AddonHandle;
  let controller: SyncController | undefined;
  let driverNs = '';
  let engineNs = '';
  const results = new Map<string, Promise<string[]>>();

  after(async () => {
    controller?.proc.kill9();
    for (const ns of [driverNs, engineNs]) if (ns) await env.client.request('DELETE', `/api/v1/namespaces/${ns}`).catch(() => {});
  });

  before(async () => {
    ({ env, azure, addon } = await testAddon({ vaults: [VAULT] }));
    driverNs = await createNamespace(env.client, 'parity-driver');
    await ensureServiceAccount(env.client, driverNs, DRIVER_SA);
    const driverClient = await azure.admin.workloadIdentity(driverNs, DRIVER_SA);
    const engine = await federatedNamespace(env, azure, 'parity-engine');
    engineNs = engine.ns;
    const table = cases(await seed(azure));
    assert.equal(new Set(table.map((c) => c.name)).size, table.length, 'case names are unique');

    const list = (path: string) => shared(async () => (await env.client.request('GET', path)).items as any[]);
    const driverSecrets = list(`/api/v1/namespaces/${driverNs}/secrets`);
    const engineSecrets = list(`/api/v1/namespaces/${engineNs}/secrets`);
    const driverEvents = list(`/api/v1/namespaces/${driverNs}/events`);
    const engineEvents = list(`/api/v1/namespaces/${engineNs}/events`);
    const volumes = shared(() => addon.volumes());
    const driverLog = shared(async () => {
      const files = Object.entries(addon.state.logs).filter(([name]) => name.startsWith('secrets-store-csi-driver')).map(([, f]) => f);
      return (await Promise.all(files.map((f) => readFile(f, 'utf8').catch(() => '')))).join('\n');
    }, 1000);
    const byName = (items: any[], name: string) => items.find((s) => s.metadata.name === name) as V1Secret | undefined;
    const engineSays = async (cls: string) => (await engineEvents()).filter((e) => e.involvedObject?.name === cls && e.type === 'Warning').map((e) => `${e.reason}: ${e.message}`).join('\n');
    // The driver says why in its log (a secretObjects entry it rejects) or in an Event on the pod (data it cannot build).
    const driverSays = async (cls: string) => {
      const log = (await driverLog()).split('\n').filter((l) => l.startsWith('E') && l.includes(`${driverNs}/${cls}"`));
      const events = (await driverEvents()).filter((e) => e.involvedObject?.kind === 'Pod' && e.involvedObject?.name === cls).map((e) => e.message);
      return [...new Set([...log.map((l) => l.replace(/^\S+ \S+\s+\d+ /, '')), ...events])].join('\n');
    };

    await Promise.all(table.map(async (c) => {
      await applyClass(env.client, driverNs, syncClass(c.name, { vault: VAULT, clientID: driverClient, tenantId: azure.tenantId, objects: c.objects, secretObjects: owned(c, c.secretObjects), parameters: c.parameters }));
      // One pod per class, named like it, so that the Events and log lines of each case are told apart.
      await env.client.request('POST', `/api/v1/namespaces/${driverNs}/pods`, { body: { metadata: { name: c.name }, spec: mountingPod(c.name, DRIVER_SA) } });
    }));
    controller = await startSyncController(env, { namespaces: [engineNs] });

    const run = async (c: Case): Promise<string[]> => {
      const problems: string[] = [];
      const volumeOf = async () => (await volumes()).find((v: VolumeStatus) => v.namespace === driverNs && v.pod === c.name && !v.removed);
      const mount = await waitOr(problems, c.refused ? `the driver to refuse the class ${c.name}` : `the driver to mount ${c.name}`, async () => {
        const v = await volumeOf();
        if (c.refused) return v && !v.published && v.failures > 0 && c.refused.driver.test(v.lastError ?? '') ? v : undefined;
        return v?.published ? v : undefined;
      }, async () => JSON.stringify(await volumeOf()), 120_000);
      if (mount === undefined) return problems;
      const mounted = c.refused ? {} : await addon.mountedFiles({ namespace: driverNs, name: c.name }, 'kv');

      const files = Object.keys(mounted).sort();
      const secretObjects = owned(c, files.length > 0 ? [...c.secretObjects, opaque('mounted-files', files)] : c.secretObjects);
      await applyClass(env.client, engineNs, syncClass(c.name, { vault: VAULT, clientID: engine.clientID, tenantId: azure.tenantId, objects: c.objects, secretObjects, parameters: c.parameters, pollInterval: '1m' }));
      const engineRefuses = (what: string, pattern: RegExp) => waitOr(problems, `the sync engine to refuse ${what}`, async () => pattern.test(await engineSays(c.name)), () => engineSays(c.name));

      if (c.refused) {
        await engineRefuses(`the class ${c.name}`, c.refused.engine);
        for (const so of owned(c, c.secretObjects)) {
          if (byName(await engineSecrets(), so.secretName)) problems.push(`Secret ${so.secretName}: the engine wrote it, the driver refused the class`);
          if (byName(await driverSecrets(), so.secretName)) problems.push(`Secret ${so.secretName}: the driver wrote it for a class it refused`);
        }
        return problems;
      }

      await Promise.all(secretObjects.map(async ({ secretName: name }) => {
        const short = name.slice(c.name.length + 1);
        const refusal = c.refusedSecrets?.[short];
        const differs = c.differs?.[short];
        if (refusal) {
          await waitOr(problems, `the driver to refuse Secret ${name}`, async () => refusal.driver.test(await driverSays(c.name)), () => driverSays(c.name));
          if (byName(await driverSecrets(), name)) problems.push(`Secret ${name}: the driver wrote it, but was expected to refuse it`);
        }
        if (refusal || differs) {
          if (await engineRefuses(`Secret ${name}`, (refusal ?? differs)!.engine) && byName(await engineSecrets(), name)) problems.push(`Secret ${name}: the engine wrote it, but should refuse it`);
          if (refusal) return;
        }
        const driverSecret = short === 'mounted-files'
          ? undefined
          : await waitOr(problems, `the driver to sync Secret ${name}`, async () => byName(await driverSecrets(), name), () => driverSays(c.name));
        if (differs) {
          if (driverSecret) differs.driver(dataOf(driverSecret));
          return;
        }
        if (short !== 'mounted-files' && driverSecret === undefined) return;
        const engineSecret = await waitOr(problems, `the sync engine to write Secret ${name}`, async () => byName(await engineSecrets(), name), () => engineSays(c.name));
        if (engineSecret === undefined) return;
        if (driverSecret) {
          problems.push(...secretDifferences(name, driverSecret, engineSecret));
          return;
        }
        // The engine's rendering of every file the driver mounted.
        const rendered = dataOf(engineSecret);
        for (const file of files) {
          const diff = firstDifference(mounted[file]!, rendered[keyOf(file)] ?? Buffer.alloc(0));
          if (diff) problems.push(`mounted file ${file}: ${diff}`);
        }
      }));
      return problems;
    };
    for (const c of table) {
      const result = run(c);
      result.catch(() => {});
      results.set(c.name, result);
    }
  });

  // One test per case, each awaiting its own run (all of them run at once, started by the before hook).
  for (const name of cases({ one: 'v1', three: 'v3' }).map((c) => c.name)) {
    it(name, async () => {
      const problems = await results.get(name)!;
      assert.deepEqual(problems, [], `${name}:\n${problems.join('\n')}`);
    });
  }
});
