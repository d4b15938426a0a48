/** Where a thrown value points in a plugin's own file. */
import { describe, expect, test } from '@jest/globals';
import { locate } from '../../src/util/locate.js';

const FILE = '/plugins/a.js';
const withStack = (stack: unknown): object => Object.assign(new Error('x'), { stack });

describe('locate', () => {
  const cases: [string, unknown, ReturnType<typeof locate>][] = [
    ['the first frame in the file (a URL)', withStack('Error: x\n    at f (node:internal/x:1:1)\n    at init (file:///plugins/a.js:16:11)\n    at file:///plugins/a.js:20:1'), { line: 16, column: 11 }],
    ['a frame with a generation query', withStack('Error: x\n    at init (file:///plugins/a.js?plugd=3:7:2)'), { line: 7, column: 2 }],
    ['a frame naming a path', withStack('Error: x\n    at init (/plugins/a.js:4:5)'), { line: 4, column: 5 }],
    ['a percent-encoded URL', Object.assign(new Error('x'), { stack: 'Error: x\n    at file:///plugins/my%20dir/b.js:2:3' }), undefined],
    ['no frame in the file: another file only', withStack('Error: x\n    at g (file:///plugins/b.js:1:1)'), undefined],
    ['a file whose name extends it', withStack('Error: x\n    at g (file:///plugins/a.js.bak:1:1)'), undefined],
    ['a value with no stack', 'boom', undefined],
    ['a stack that is not a string', withStack(42), undefined],
    ['a Proxy (never touched)', new Proxy({}, { get: () => { throw new Error('trap'); } }), undefined],
    ['a throwing stack getter', Object.defineProperty(new Error('x'), 'stack', { get: () => { throw new Error('getter'); } }), undefined],
  ];
  test.each(cases)('%s', (_, thrown, expected) => {
    expect(locate(thrown, FILE)).toEqual(expected);
  });

  test('a percent-encoded URL names its decoded path', () => {
    expect(locate(withStack('Error: x\n    at file:///plugins/my%20dir/b.js:2:3'), '/plugins/my dir/b.js')).toEqual({ line: 2, column: 3 });
  });
});
