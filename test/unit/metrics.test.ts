// The metrics registry is held to METRICS_DOC (the README's table) and to
// Prometheus naming conventions.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createMetrics, DEFAULT_METRICS_PREFIXES, METRICS_DOC, METRICS_PREFIX } from '../../src/server/metrics.ts';

const isDefault = (name: string) => DEFAULT_METRICS_PREFIXES.some((p) => name.startsWith(p));

async function registered(): Promise<{ name: string; type: string; help: string; labels: string[] }[]> {
  const metrics = createMetrics();
  const json = await metrics.registry.getMetricsAsJSON();
  return json.map((m) => ({
    name: m.name,
    type: String(m.type),
    help: m.help,
    labels: [...((metrics.registry.getSingleMetric(m.name) as unknown as { labelNames: string[] }).labelNames ?? [])],
  }));
}

describe('metrics', () => {
  it('every metric the registry serves (beyond prom-client defaults) is in METRICS_DOC with the same type, labels and help, and vice versa', async () => {
    const own = (await registered()).filter((m) => !isDefault(m.name));
    assert.deepEqual(own.map((m) => m.name).sort(), METRICS_DOC.map((d) => d.name).sort());
    for (const m of own) {
      const d = METRICS_DOC.find((x) => x.name === m.name)!;
      assert.equal(m.type, d.type, `${m.name} type`);
      assert.deepEqual(m.labels, [...d.labels], `${m.name} labels`);
      assert.equal(m.help, d.help, `${m.name} help`);
    }
  });

  it('serves prom-client default process metrics under the keyvault_reloader_ prefix', async () => {
    const names = (await registered()).map((m) => m.name);
    assert.ok(names.includes('keyvault_reloader_process_cpu_seconds_total'), names.join(', '));
    assert.ok(names.some((n) => n.startsWith('keyvault_reloader_nodejs_')));
    assert.ok(!names.includes('process_cpu_seconds_total'), 'no unprefixed default metrics');
  });

  it('names follow Prometheus conventions: prefixed snake_case, counters end in _total, histograms in _seconds, gauges never in _total', () => {
    for (const d of METRICS_DOC) {
      assert.match(d.name, /^[a-z][a-z0-9_]*$/, d.name);
      assert.ok(d.name.startsWith(METRICS_PREFIX), `${d.name} carries the ${METRICS_PREFIX} prefix`);
      if (d.type === 'counter') assert.ok(d.name.endsWith('_total'), `counter ${d.name} ends in _total`);
      else assert.ok(!d.name.endsWith('_total'), `${d.type} ${d.name} does not end in _total`);
      if (d.type === 'histogram') assert.ok(d.name.endsWith('_seconds'), `histogram ${d.name} measures seconds`);
      for (const l of d.labels) assert.match(l, /^[a-z][a-z0-9_]*$/, `${d.name} label ${l}`);
      assert.ok(d.help.length > 10 && d.help.endsWith('.'), `${d.name} has a sentence of help`);
    }
  });

  it('two instances keep separate counts (no global registry)', async () => {
    const a = createMetrics({ defaultMetrics: false });
    const b = createMetrics({ defaultMetrics: false });
    a.restarts.inc({ kind: 'Deployment', result: 'restarted' });
    a.restarts.inc({ kind: 'Deployment', result: 'restarted' });
    assert.match(await a.registry.metrics(), /^keyvault_reloader_restarts_total\{kind="Deployment",result="restarted"\} 2$/m);
    assert.doesNotMatch(await b.registry.metrics(), /keyvault_reloader_restarts_total\{/);
  });

  it('the reaction histogram spans 5 ms to 60 s', async () => {
    const m = createMetrics({ defaultMetrics: false });
    m.reactionSeconds.observe(0.2);
    const text = await m.registry.metrics();
    assert.match(text, /^keyvault_reloader_reaction_seconds_bucket\{le="0.005"\} 0$/m);
    assert.match(text, /^keyvault_reloader_reaction_seconds_bucket\{le="60"\} 1$/m);
  });

  it('serves informer watch restarts and re-lists as they are when scraped (no timer copies them)', async () => {
    const m = createMetrics({ defaultMetrics: false });
    const stats = { relists: 0, watchRestarts: 0 };
    m.countInformers([{ name: 'secrets', stats }]);
    assert.match(await m.registry.metrics(), /^keyvault_reloader_relists_total\{informer="secrets"\} 0$/m);
    stats.relists = 2;
    stats.watchRestarts = 5;
    const text = await m.registry.metrics();
    assert.match(text, /^keyvault_reloader_relists_total\{informer="secrets"\} 2$/m);
    assert.match(text, /^keyvault_reloader_watch_restarts_total\{informer="secrets"\} 5$/m);
  });
});
