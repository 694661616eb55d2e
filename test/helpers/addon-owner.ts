// A process that owns an add-on and is then killed (addon.test.ts): it starts
// one serving a node of its own beside the parent's control plane and local
// Azure (named by KVR_TESTENV), waits until a pod's volume is mounted, prints
// the add-on's state, and waits to be killed.
// Usage: addon-owner.ts <node> <namespace> <pod> <vault>
import { connectAzure } from '../../src/localenv/azure.ts';
import { startAddon } from '../../src/localenv/addon.ts';
import { testEnv } from './env.ts';

const [node, namespace, pod, vault] = process.argv.slice(2) as [string, string, string, string];
const env = await testEnv();
if (!env.azure) throw new Error('addon-owner needs the local Azure named in KVR_TESTENV');
const addon = await startAddon({ cluster: env, azure: connectAzure(env.azure), nodes: [node], vaults: [vault], progress: (m) => process.stderr.write(`[owner] ${m}\n`) });
const mounted = await addon.waitMounted({ namespace, name: pod }, 'kv');
process.stdout.write(`${JSON.stringify({ state: addon.state, daemons: await addon.daemons(), targetPath: mounted.targetPath })}\n`);
setInterval(() => {}, 60_000);
