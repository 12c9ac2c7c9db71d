import { backupPatch, NETWORK_BACKUP_ANNOTATION, readBackup, restorePatches } from './backup.js';

const machine = {
  metadata: { annotations: {} as Record<string, string> },
  spec: { network: { ipv4: '10.200.0.10' } },
  status: { network: { ipv4: '10.200.0.10', mac: '02:00:00:00:00:0a' } },
};

test('backup is written once, restored only where fields are gone', () => {
  const patch = backupPatch(machine)!;
  const withBackup = {
    ...machine,
    metadata: { annotations: patch.metadata.annotations as Record<string, string> },
  };
  expect(readBackup(withBackup)).toEqual({
    v: 1,
    spec: { ipv4: '10.200.0.10' },
    assigned: { ipv4: '10.200.0.10', mac: '02:00:00:00:00:0a' },
  });
  expect(backupPatch(withBackup)).toBeUndefined(); // unchanged: no write
  expect(restorePatches(withBackup)).toEqual({});
  const pruned = { metadata: withBackup.metadata, spec: {}, status: {} };
  expect(restorePatches(pruned)).toEqual({
    spec: { spec: { network: { ipv4: '10.200.0.10' } } },
    status: { status: { network: { ipv4: '10.200.0.10', mac: '02:00:00:00:00:0a' } } },
  });
});

test('a removed network clears the backup; a broken one is ignored', () => {
  const gone = { metadata: { annotations: { [NETWORK_BACKUP_ANNOTATION]: '{"v":1,"spec":{}}' } }, spec: {} };
  expect(backupPatch(gone)).toEqual({ metadata: { annotations: { [NETWORK_BACKUP_ANNOTATION]: null } } });
  expect(readBackup({ metadata: { annotations: { [NETWORK_BACKUP_ANNOTATION]: '{' } } })).toBeUndefined();
});
