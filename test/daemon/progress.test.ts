/** The progress line of long loads: drawn in place on a TTY, never elsewhere. */
import { describe, expect, test } from '@jest/globals';
import { progress } from '../../src/daemon/progress.js';

function stream(isTTY: boolean): { isTTY: boolean; text: string; write(t: string): boolean } {
  return { isTTY, text: '', write(t) { this.text += t; return true; } };
}

describe('progress', () => {
  test('on a TTY: redrawn in place, throttled, wiped at the end', () => {
    const out = stream(true);
    const p = progress(out, 'loading x', 1_000_000);
    p.tick(1, 4);
    p.tick(2, 4); // throttled
    p.tick(4, 4); // the last one is always drawn
    p.done();
    expect(out.text).toBe('\r\u001b[2Kloading x: 1/4 (25%)\r\u001b[2Kloading x: 4/4 (100%)\r\u001b[2K');
  });

  test('not a TTY: nothing at all', () => {
    const out = stream(false);
    const p = progress(out, 'loading x');
    p.tick(1, 1);
    p.done();
    expect(out.text).toBe('');
  });
});
