import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { IMAGENET_CLASSES } from '../src/data/imagenet-classes.js';

test('IMAGENET_CLASSES has 1000 unique, non-empty names', () => {
  assert.is(IMAGENET_CLASSES.length, 1000);
  assert.is(new Set(IMAGENET_CLASSES).size, 1000);
  assert.ok(IMAGENET_CLASSES.every((n) => typeof n === 'string' && n.trim() === n && n.length > 0));
  assert.ok(Object.isFrozen(IMAGENET_CLASSES));
});

test('IMAGENET_CLASSES spot checks (standard index order)', () => {
  const expected: Record<number, string> = {
    0: 'tench',
    1: 'goldfish',
    134: 'crane bird',
    207: 'golden retriever',
    281: 'tabby', // torchvision's name for the tabby cat class
    409: 'analog clock',
    517: 'crane',
    638: 'maillot',
    639: 'maillot tank suit',
    954: 'banana',
    999: 'toilet tissue',
  };
  for (const [i, name] of Object.entries(expected)) assert.is(IMAGENET_CLASSES[Number(i)], name, `index ${i}`);
});

test.run();
