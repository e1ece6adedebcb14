import { Type } from '@sinclair/typebox';
import { describe, expect, it } from 'vitest';
import { toStructural } from './structural.js';

describe('toStructural', () => {
  it('drops TypeBox symbols and keeps documented keywords', () => {
    const out = toStructural(
      Type.Object(
        {
          a: Type.String({ description: 'A.', minLength: 1, maxLength: 9, pattern: '^a', default: 'a' }),
          b: Type.Optional(Type.Integer({ minimum: 1, maximum: 5 })),
        },
        { description: 'Obj.', 'x-kubernetes-validations': [{ rule: 'self.a != "b"', message: 'm' }] },
      ),
    );
    expect(out).toEqual({
      description: 'Obj.',
      type: 'object',
      required: ['a'],
      properties: {
        a: { description: 'A.', type: 'string', default: 'a', minLength: 1, maxLength: 9, pattern: '^a' },
        b: { type: 'integer', minimum: 1, maximum: 5 },
      },
      'x-kubernetes-validations': [{ rule: 'self.a != "b"', message: 'm' }],
    });
    expect(JSON.stringify(Object.getOwnPropertySymbols(out.properties!.a!))).toBe('[]');
  });

  it('omits required when every property is optional', () => {
    expect(toStructural(Type.Object({ a: Type.Optional(Type.String()) }))).toEqual({
      type: 'object',
      properties: { a: { type: 'string' } },
    });
  });

  it('turns a string-keyed record into additionalProperties', () => {
    expect(toStructural(Type.Record(Type.String(), Type.Integer(), { maxProperties: 3 }))).toEqual({
      type: 'object',
      maxProperties: 3,
      additionalProperties: { type: 'integer' },
    });
  });

  it('turns literals and unions of literals into enums', () => {
    expect(toStructural(Type.Union([Type.Literal('A'), Type.Literal('B')], { default: 'A' }))).toEqual({
      type: 'string',
      enum: ['A', 'B'],
      default: 'A',
    });
    expect(toStructural(Type.Literal(3))).toEqual({ type: 'number', enum: [3] });
  });

  it('completes an object default with the defaults nested inside it', () => {
    const schema = Type.Object(
      { x: Type.String({ default: 'd' }), y: Type.Optional(Type.String()), z: Type.Boolean({ default: false }) },
      { default: {} },
    );
    expect(toStructural(schema).default).toEqual({ x: 'd', z: false });
  });

  it.each([
    ['a union of different types', Type.Union([Type.String(), Type.Integer()])],
    ['a union of non-literals', Type.Union([Type.Object({}), Type.Object({ a: Type.String() })])],
    ['a tuple', Type.Tuple([Type.String(), Type.Integer()])],
    ['an untyped node', Type.Any()],
    ['a record with non-string keys', Type.Record(Type.Number(), Type.String())],
    ['a closed object', Type.Object({ a: Type.String() }, { additionalProperties: false })],
    ['uniqueItems', Type.Array(Type.String(), { uniqueItems: true })],
    ['an exclusive bound', Type.Integer({ exclusiveMinimum: 0 })],
  ])('refuses %s instead of dropping it', (_what, schema) => {
    expect(() => toStructural(Type.Object({ field: schema }))).toThrow(/^field(\[\])?: /);
  });
});
