// The driver's command line in the local environment: the chart's DaemonSet
// arguments, with only the node's own values (socket, node, provider folder,
// metrics address) replaced, so that the driver runs as its chart runs it.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { driverArgs } from '../../src/localenv/addon.ts';

const chart = [
  '--endpoint=$(CSI_ENDPOINT)',
  '--nodeid=$(KUBE_NODE_NAME)',
  '--provider-volume=/var/run/secrets-store-csi-providers',
  '--additional-provider-volume-paths=/etc/kubernetes/secrets-store-csi-providers',
  '--enable-secret-rotation=true',
  '--rotation-poll-interval=5s',
  '--metrics-addr=:8095',
  '--provider-health-check-interval=2m',
  '--max-call-recv-msg-size=4194304',
];

describe('driverArgs', () => {
  it("replaces the node's own flags in place and keeps every other chart argument as it is", () => {
    const own = { endpoint: 'unix:///d/csi.sock', nodeid: 'kwok-node-0', 'provider-volume': '/d/p', 'additional-provider-volume-paths': '/d/p', 'metrics-addr': '127.0.0.1:4711' };
    assert.deepEqual(driverArgs(chart, own), [
      '--endpoint=unix:///d/csi.sock',
      '--nodeid=kwok-node-0',
      '--provider-volume=/d/p',
      '--additional-provider-volume-paths=/d/p',
      '--enable-secret-rotation=true',
      '--rotation-poll-interval=5s',
      '--metrics-addr=127.0.0.1:4711',
      '--provider-health-check-interval=2m',
      '--max-call-recv-msg-size=4194304',
    ]);
  });

  it('adds an own flag the chart does not give, and leaves a flag that merely starts like one alone', () => {
    assert.deepEqual(driverArgs(['--enable-secret-rotation=true', '--metrics-addr-extra=x'], { 'metrics-addr': '127.0.0.1:1' }), ['--enable-secret-rotation=true', '--metrics-addr-extra=x', '--metrics-addr=127.0.0.1:1']);
  });
});
