// Every parity fixture on every backend: the network built from the same configuration, with
// the same synthetic weights, must reproduce PyTorch's logits, stage features and one
// SplAtConv2d's intermediates to max|ours − torch| ≤ tolerance · max|torch| (1e-4 on CPU
// backends, 1e-3 on webgpu), unfused and BN-folded (zoo networks: folded in place).

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { expected, manifest } from './helpers/fixtures.js';
import { testBackends } from './helpers/backends.js';
import { reportLine, runNetworkFixture } from './helpers/run-fixture.js';

const m = manifest();
const report: string[] = [];
const backends = await testBackends();

for (const { name, backend, tolerance } of backends) {
  for (const fx of [...m.networks, ...m.zoo]) {
    test(`parity ${name} ${fx.arch ? `zoo ${fx.arch}` : fx.name}`, async () => {
      const errs = await runNetworkFixture(fx, backend, expected(fx.name), { inPlace: !!fx.arch });
      for (const [what, err] of Object.entries(errs)) {
        assert.ok(err <= tolerance, `${fx.name} ${what}: relative error ${err.toExponential(2)} > ${tolerance}`);
      }
      assert.ok('logits' in errs && 'fused' in errs);
      if (fx.splat_at) assert.ok('splat.rsoftmax' in errs && 'splat.out' in errs, 'SplAtConv2d intermediates compared');
      report.push(reportLine(name, fx, errs));
    });
  }
}

test('parity report', () => {
  console.log(`\n${report.join('\n')}`);
  assert.is(report.length, backends.length * (m.networks.length + m.zoo.length));
});

test.run();
