import { readFileSync } from 'node:fs';
import { columnTs, generateModel, typeName } from './modelgen.js';

describe('ovsdb-modelgen', () => {
  it('names types after tables', () => {
    expect(['Logical_Switch_Port', 'ACL', 'NB_Global', 'DHCP_Options'].map(typeName)).toEqual([
      'LogicalSwitchPort',
      'ACL',
      'NBGlobal',
      'DHCPOptions',
    ]);
  });

  it('types columns: enums as unions, optional values and sets as arrays, maps as records', () => {
    expect(columnTs({ key: { type: 'string', enum: ['allow', 'drop'] }, min: 1, max: 1 })).toBe(
      '"allow" | "drop"',
    );
    expect(columnTs({ key: { type: 'integer' }, min: 0, max: 1 })).toBe('number[]');
    expect(columnTs({ key: { type: 'string', enum: ['a', 'b'] }, min: 0, max: 1 })).toBe('("a" | "b")[]');
    expect(columnTs({ key: { type: 'uuid', refTable: 'X' }, min: 0, max: Infinity })).toBe('string[]');
    expect(columnTs({ key: { type: 'string' }, value: { type: 'integer' }, min: 0, max: Infinity })).toBe(
      'Record<string, number>',
    );
  });

  it('emits a small schema deterministically, tables and columns sorted', () => {
    const schema = {
      name: 'Tiny',
      version: '1.2.3',
      tables: {
        Zeta: {
          columns: { b: { type: 'string' }, a: { type: { key: 'integer', min: 0, max: 1 } } },
          isRoot: true,
        },
        Alpha: {
          columns: { refs: { type: { key: { type: 'uuid', refTable: 'Zeta' }, min: 0, max: 'unlimited' } } },
        },
      },
    };
    const out = generateModel(schema, { prefix: 'TINY', source: 'tiny.ovsschema' });
    expect(out).toBe(
      generateModel(JSON.parse(JSON.stringify(schema)), { prefix: 'TINY', source: 'tiny.ovsschema' }),
    );
    expect(out).toContain("export const TINY_SCHEMA_VERSION = '1.2.3';");
    expect(out.indexOf('export interface Alpha')).toBeLessThan(out.indexOf('export interface Zeta'));
    expect(out).toMatch(
      /export interface Zeta \{\n {2}_uuid: string;\n {2}a: number\[\]; \/\/ optional: \[\] or \[value\]\n {2}b: string;\n\}/,
    );
    expect(out).toContain(
      "refs: { key: { type: 'uuid', refTable: 'Zeta', refType: 'strong' }, min: 0, max: Infinity },",
    );
  });

  it('matches the committed NB and SB models (run `npm run generate` when this fails)', () => {
    for (const [db, prefix] of [
      ['nb', 'NB'],
      ['sb', 'SB'],
    ]) {
      const schema: unknown = JSON.parse(readFileSync(`/usr/share/ovn/ovn-${db}.ovsschema`, 'utf8'));
      const committed = readFileSync(
        new URL(`../../src/ovsdb/generated/ovn-${db}.ts`, import.meta.url),
        'utf8',
      );
      expect(generateModel(schema, { prefix: prefix!, source: `ovn-${db}.ovsschema` })).toBe(committed);
    }
  });
});
