// The operator's helpers: `explain` says what would restart and why, reading only.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import { ANNOTATIONS } from '../../src/reloader/annotations.ts';
import { createNamespace, eventually, testEnv } from '../helpers/env.ts';
import { startReloader } from '../helpers/reloader.ts';
import { createDeployment, deployment, getDeployment, putSecret, replicaSetsOf, waitRolledOut } from '../helpers/workloads.ts';

const run = promisify(execFile);

describe('keyvault-reloader explain', () => {
  it('lists each annotated workload with its inputs and what would happen now, and writes nothing', async () => {
    const env = await testEnv();
    const ns = await createNamespace(env.client, 'explain');
    await putSecret(env.client, ns, 'creds', { v: '1' });
    const pod = { containers: [{ name: 'app', image: 'x', envFrom: [{ secretRef: { name: 'creds' } }] }] };
    await createDeployment(env.client, ns, deployment('changed', { annotations: { [ANNOTATIONS.auto]: 'true' }, pod }));
    await createDeployment(env.client, ns, deployment('steady', { annotations: { [ANNOTATIONS.secrets]: 'other' }, pod }));
    await createDeployment(env.client, ns, deployment('broken', { annotations: { [ANNOTATIONS.auto]: 'true', [ANNOTATIONS.settle]: 'soon' }, pod }));
    await createDeployment(env.client, ns, deployment('plain', { pod }));
    for (const n of ['changed', 'steady', 'broken', 'plain']) await waitRolledOut(env.client, ns, n);
    const r = await startReloader(env, { namespace: ns });
    await eventually('adoption', async () => (await getDeployment(env.client, ns, 'changed')).metadata?.annotations?.[ANNOTATIONS.baseline]);
    await eventually('adoption', async () => (await getDeployment(env.client, ns, 'steady')).metadata?.annotations?.[ANNOTATIONS.baseline]);
    await r.stop();
    await putSecret(env.client, ns, 'creds', { v: '2' });
    const before = (await getDeployment(env.client, ns, 'changed')).metadata!.resourceVersion;

    const { stdout } = await run(process.execPath, ['src/cli/main.ts', 'explain', '--kubeconfig', env.kubeconfig, '--namespace', ns, '--namespaces', ns, '--output', 'json']);
    const rows = JSON.parse(stdout) as { workload: string; secrets: string[]; verdict: string; problems: { annotation: string }[] }[];
    const row = (name: string) => rows.find((x) => x.workload === `Deployment/${ns}/${name}`);
    assert.match(row('changed')!.verdict, /^would restart: secret\/creds changed/);
    assert.deepEqual(row('changed')!.secrets, ['creds']);
    assert.equal(row('steady')!.verdict, 'up to date');
    assert.equal(row('broken')!.problems[0]!.annotation, ANNOTATIONS.settle);
    assert.equal(row('plain'), undefined, 'a workload without our annotations is not listed');
    assert.equal((await getDeployment(env.client, ns, 'changed')).metadata!.resourceVersion, before, 'explain wrote nothing');
    assert.equal((await replicaSetsOf(env.client, ns, 'changed')).length, 1);
  });
});
