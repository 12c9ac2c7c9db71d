// Row types and column metadata for OVN's northbound and southbound databases, from the schemas the
// installed OVN ships (see hack/ovsdb-modelgen).
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generateModel } from '../ovsdb-modelgen/modelgen.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const schemaDir = process.env.OVN_SCHEMA_DIR ?? '/usr/share/ovn';

for (const [db, prefix] of [
  ['nb', 'NB'],
  ['sb', 'SB'],
] as const) {
  const file = `ovn-${db}.ovsschema`;
  const schema: unknown = JSON.parse(readFileSync(join(schemaDir, file), 'utf8'));
  const target = join(root, 'src', 'ovsdb', 'generated', `ovn-${db}.ts`);
  writeFileSync(target, generateModel(schema, { prefix, source: file }));
  console.log(`30-ovsdb-models: wrote ${target.slice(root.length + 1)}`);
}
