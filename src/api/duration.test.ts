import { describe, expect, it } from 'vitest';
import { parseDuration } from './duration.js';

describe('parseDuration', () => {
  it.each([
    ['1h30m', 5_400_000],
    ['15m', 900_000],
    ['10s', 10_000],
    ['500ms', 500],
    ['1.5h', 5_400_000],
    ['2h45m30.5s', 9_930_500],
    ['0.25s', 250],
    ['1s1s', 2_000], // Go sums repeated units
    ['1m1ms', 60_001],
    ['0', 0],
    ['0s', 0],
    ['1.0009s', 1_000], // below a millisecond is truncated, as Go truncates below a nanosecond
    ['8760h', 31_536_000_000],
    ['2562047h', 9_223_369_200_000], // just inside Go's int64 nanoseconds
    ['0.1h', 360_000], // no floating-point drift
  ])('%s is %d ms', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it.each([
    '',
    ' 1s',
    '1s ',
    '1',
    '1d',
    '1S',
    '-1s',
    '+1s',
    '.5h',
    '1.h',
    '1us',
    '1µs',
    '1ns',
    'h',
    '1h 30m',
    '1e3s',
    '0x10s',
  ])('rejects %j', (text) => {
    expect(() => parseDuration(text)).toThrow(`invalid duration ${JSON.stringify(text)}: expected a Go duration`);
  });

  it('rejects durations beyond Go int64 nanoseconds', () => {
    expect(() => parseDuration('2562048h')).toThrow(/longer than Go's maximum/);
    expect(() => parseDuration('2562047h47m16.854775808s')).toThrow(/longer than Go's maximum/);
    expect(parseDuration('2562047h47m16.854775807s')).toBe(9_223_372_036_854);
  });
});
