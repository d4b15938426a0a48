/**
 * {@link nearest}: the "did you mean ...?" suggestion for a mistyped config or registration key.
 * The rules under test: at most 2 edits (Levenshtein: insert, delete, substitute; a swap of two
 * letters is 2 edits), compared case-insensitively, the closest candidate first, the earlier one
 * on a tie, and the candidate returned as spelled in the list.
 */
import { describe, expect, test } from '@jest/globals';
import { nearest } from '../../src/util/hint.js';

const KEYS = ['timeout', 'plugins', 'state', 'allowInsecure', 'locked'] as const;

describe('nearest', () => {
  test.each<[string, string, readonly string[], string | undefined]>([
    ['an exact match is its own suggestion', 'timeout', KEYS, 'timeout'],
    ['one letter missing', 'timout', KEYS, 'timeout'],
    ['one letter too many', 'timeoutt', KEYS, 'timeout'],
    ['one letter wrong', 'plugons', KEYS, 'plugins'],
    ['two edits away is still close enough', 'statte1', KEYS, 'state'],
    ['two letters swapped (2 edits)', 'lokced', KEYS, 'locked'],
    ['three edits away is too far', 'stxyz', ['state'], undefined],
    ['a different word is too far', 'database', KEYS, undefined],
    ['an empty list has no suggestion', 'timeout', [], undefined],
    ['an empty key is close only to names of at most 2 letters', '', ['abc', 'ab'], 'ab'],
  ])('%s: %j', (_what, key, candidates, expected) => {
    expect(nearest(key, candidates)).toBe(expected);
  });

  test.each<[string, string, readonly string[], string]>([
    ['the key in another case', 'TIMEOUT', ['timeout'], 'timeout'],
    ['the candidate in another case, returned as listed', 'allowinsecure', ['allowInsecure'], 'allowInsecure'],
    ['mixed case on both sides, one edit away', 'AllowInsecur', ['allowInsecure'], 'allowInsecure'],
  ])('case-insensitive: %s', (_what, key, candidates, expected) => {
    expect(nearest(key, candidates)).toBe(expected);
  });

  test.each<[string, string, readonly string[], string]>([
    ['the closer of two, whatever the order (closer last)', 'stat', ['start1', 'state'], 'state'],
    ['the closer of two, whatever the order (closer first)', 'stat', ['state', 'start1'], 'state'],
    ['an exact match beats an earlier one-edit candidate', 'lock', ['locks', 'lock'], 'lock'],
    ['on a tie, the earlier candidate', 'cat', ['bat', 'hat'], 'bat'],
    ['on a tie, the earlier candidate (the other order)', 'cat', ['hat', 'bat'], 'hat'],
  ])('several candidates: %s', (_what, key, candidates, expected) => {
    expect(nearest(key, candidates)).toBe(expected);
  });

  test('a prefix of a candidate is near it only within 2 edits', () => {
    // 'time' -> 'timeout' needs 3 insertions: too far, though one is a prefix of the other.
    expect(nearest('time', ['timeout'])).toBeUndefined();
    expect(nearest('timeo', ['timeout'])).toBe('timeout');
  });
});
