/** {@link sha256} and {@link sha256Hash} against the standard test vectors (FIPS 180-2). */
import { describe, expect, test } from '@jest/globals';
import { sha256, sha256Hash } from '../../src/util/sha256.js';

const ABC = 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad';

describe('sha256', () => {
  test.each([
    ['a string', 'abc'],
    ['bytes', new TextEncoder().encode('abc')],
    ['a Buffer', Buffer.from('abc')],
  ])('digests %s', (_, input) => {
    expect(sha256(input)).toBe(ABC);
  });

  test('the empty input', () => {
    expect(sha256('')).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  });

  test('a hash fed piece by piece equals the digest of the whole', () => {
    expect(sha256Hash().update('a').update(Buffer.from('b')).update('c').digest('hex')).toBe(ABC);
  });
});
