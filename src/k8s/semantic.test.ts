import assert from 'node:assert/strict';
import { test } from 'node:test';
import { semanticEqual } from './semantic.ts';

test('semanticEqual: key order does not matter, undefined-valued keys count as absent, arrays keep order', () => {
  const ours = { assignedIPv4: '1', availableIPv4: '3', observedGeneration: undefined, conditions: [{ type: 'Valid', status: 'True' }] };
  const goSorted = JSON.parse('{"assignedIPv4":"1","availableIPv4":"3","conditions":[{"status":"True","type":"Valid"}]}') as unknown;
  assert.notEqual(JSON.stringify(ours), JSON.stringify(goSorted), 'the comparison this replaces said "different"');
  assert.equal(semanticEqual(ours, goSorted), true);
  assert.equal(semanticEqual({ a: [1, 2] }, { a: [2, 1] }), false);
  assert.equal(semanticEqual({ a: '1' }, { a: 1 }), false);
  assert.equal(semanticEqual({ a: null }, {}), false, 'null is a value, not absence');
  assert.equal(semanticEqual({ a: {} }, { a: [] }), false);
  assert.equal(semanticEqual({ a: { b: 1 } }, { a: { b: 1, c: 2 } }), false);
  assert.equal(semanticEqual(undefined, undefined), true);
});
