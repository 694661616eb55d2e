// Summaries of the V8 profiles a `--profile` run writes for each controller
// process (--cpu-prof, --heap-prof): where the time went and what holds the
// memory, by function and by package, as text for the run log.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}

interface CpuNode {
  id: number;
  callFrame: CallFrame;
  hitCount?: number;
  children?: number[];
}

interface HeapNode {
  callFrame: CallFrame;
  selfSize: number;
  children: HeapNode[];
}

export interface ProfileLine {
  name: string;
  share: number;
  value: number;
}

export interface ProfileSummary {
  file: string;
  kind: 'cpu' | 'heap';
  /** Milliseconds sampled (cpu) or bytes live at exit (heap). */
  total: number;
  byFunction: ProfileLine[];
  byPackage: ProfileLine[];
  /** CPU only: each sample charged to the nearest function of ours (src/) on its stack — who asked for the work. */
  bySrcCaller: ProfileLine[];
}

function where(cf: CallFrame): string {
  const url = cf.url.replace(/^file:\/\//, '');
  const nm = url.lastIndexOf('node_modules/');
  if (nm >= 0) {
    const parts = url.slice(nm + 'node_modules/'.length).split('/');
    return parts[0]!.startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0]!;
  }
  if (url.includes('/src/')) return `src/${url.split('/src/').pop()}`;
  if (url.startsWith('node:')) return 'node (built-in)';
  return url === '' ? `(${cf.functionName || 'vm'})` : path.basename(url);
}

function top(map: Map<string, number>, total: number, n: number): ProfileLine[] {
  return [...map.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(([name, value]) => ({ name, value, share: total ? value / total : 0 }));
}

export function summarizeProfile(file: string, n = 20): ProfileSummary {
  const json = JSON.parse(readFileSync(file, 'utf8'));
  const byFunction = new Map<string, number>();
  const byPackage = new Map<string, number>();
  const add = (cf: CallFrame, v: number) => {
    const fn = `${cf.functionName || '(anonymous)'} ${where(cf)}${cf.url ? `:${cf.lineNumber + 1}` : ''}`;
    byFunction.set(fn, (byFunction.get(fn) ?? 0) + v);
    byPackage.set(where(cf), (byPackage.get(where(cf)) ?? 0) + v);
  };
  if (file.endsWith('.cpuprofile')) {
    const nodes = json.nodes as CpuNode[];
    const byId = new Map(nodes.map((node) => [node.id, node]));
    const parent = new Map<number, number>();
    for (const node of nodes) for (const c of node.children ?? []) parent.set(c, node.id);
    const srcCaller = new Map<number, string>();
    const callerOf = (id: number): string => {
      const known = srcCaller.get(id);
      if (known !== undefined) return known;
      const cf = byId.get(id)?.callFrame;
      let name: string;
      if (cf && cf.url.includes('/src/')) name = `${cf.functionName || '(anonymous)'} ${where(cf)}:${cf.lineNumber + 1}`;
      else if (parent.has(id)) name = callerOf(parent.get(id)!);
      else name = '(not under src/: module loading, timers, GC, runtime)';
      srcCaller.set(id, name);
      return name;
    };
    const bySrcCaller = new Map<string, number>();
    const selfMs = new Map<number, number>();
    const samples = json.samples as number[];
    const deltas = json.timeDeltas as number[];
    samples.forEach((id, i) => selfMs.set(id, (selfMs.get(id) ?? 0) + (deltas[i] ?? 0) / 1000));
    let total = 0;
    for (const [id, ms] of selfMs) {
      const node = byId.get(id);
      if (!node || node.callFrame.functionName === '(idle)') continue;
      total += ms;
      add(node.callFrame, ms);
      const caller = ['(garbage collector)', '(program)'].includes(node.callFrame.functionName) ? `${node.callFrame.functionName}` : callerOf(id);
      bySrcCaller.set(caller, (bySrcCaller.get(caller) ?? 0) + ms);
    }
    return { file, kind: 'cpu', total, byFunction: top(byFunction, total, n), byPackage: top(byPackage, total, n), bySrcCaller: top(bySrcCaller, total, n) };
  }
  let total = 0;
  const walk = (node: HeapNode) => {
    total += node.selfSize;
    if (node.selfSize > 0) add(node.callFrame, node.selfSize);
    node.children.forEach(walk);
  };
  walk(json.head as HeapNode);
  return { file, kind: 'heap', total, byFunction: top(byFunction, total, n), byPackage: top(byPackage, total, n), bySrcCaller: [] };
}

export function summarizeDir(dir: string): ProfileSummary[] {
  let files: string[] = [];
  try {
    files = readdirSync(dir).filter((f) => f.endsWith('.cpuprofile') || f.endsWith('.heapprofile'));
  } catch {
    return [];
  }
  return files.sort().map((f) => summarizeProfile(path.join(dir, f)));
}

export function formatProfile(p: ProfileSummary): string {
  const unit = p.kind === 'cpu' ? (v: number) => `${(v / 1000).toFixed(2)} s` : (v: number) => `${(v / 2 ** 20).toFixed(1)} MiB`;
  const lines = [`${path.basename(p.file)} (${p.kind}, total ${unit(p.total)})`, '  by package:'];
  for (const l of p.byPackage.slice(0, 10)) lines.push(`    ${(l.share * 100).toFixed(1).padStart(5)}%  ${unit(l.value).padStart(10)}  ${l.name}`);
  if (p.bySrcCaller.length) {
    lines.push('  by nearest src/ function on the stack:');
    for (const l of p.bySrcCaller.slice(0, 12)) lines.push(`    ${(l.share * 100).toFixed(1).padStart(5)}%  ${unit(l.value).padStart(10)}  ${l.name}`);
  }
  lines.push('  by function (self):');
  for (const l of p.byFunction) lines.push(`    ${(l.share * 100).toFixed(1).padStart(5)}%  ${unit(l.value).padStart(10)}  ${l.name}`);
  return lines.join('\n');
}

// `node bench/lib/profile.ts <file-or-dir>...`: summarize profiles by hand.
if (import.meta.main) {
  for (const arg of process.argv.slice(2)) {
    const list = arg.endsWith('profile') ? [summarizeProfile(arg, 30)] : summarizeDir(arg);
    for (const p of list) process.stdout.write(`${formatProfile(p)}\n\n`);
  }
}
