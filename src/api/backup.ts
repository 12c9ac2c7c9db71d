// Pure: the durable copy of an object's network fields, kept in an annotation. Metadata is never
// pruned, so when capk's CRDs are re-applied without the network schema and a write by anyone
// prunes spec.network / status.network, the copy survives and the CRD guard can put them back
// once the schema is restored. Assigned IPs also live in IPAddress objects (Cluster API IPAM);
// the copy covers what exists nowhere else: the network spec and pinned identities.

export const NETWORK_BACKUP_ANNOTATION = 'network.capk-podnet.io/backup';

/** What the annotation holds (JSON). Version the shape so that a newer manager can read old ones. */
export interface NetworkBackup {
  v: 1;
  /** spec.network (cluster, machine) as last seen valid by the controller. */
  spec?: unknown;
  /** Identity assigned to a machine (status.network.ipv4/mac), for machines without a pin. */
  assigned?: { ipv4?: string; mac?: string };
}

/** The subset of a KubevirtCluster / KubevirtMachine this module reads. */
export interface NetworkedObject {
  metadata?: { annotations?: Record<string, string> };
  spec?: { network?: unknown };
  status?: { network?: { ipv4?: string; mac?: string } };
}

export function backupOf(obj: NetworkedObject): NetworkBackup | undefined {
  const spec = obj.spec?.network;
  const st = obj.status?.network;
  const assigned =
    st?.ipv4 !== undefined || st?.mac !== undefined
      ? { ...(st.ipv4 !== undefined && { ipv4: st.ipv4 }), ...(st.mac !== undefined && { mac: st.mac }) }
      : undefined;
  if (spec === undefined && assigned === undefined) return undefined;
  return { v: 1, ...(spec !== undefined && { spec }), ...(assigned && { assigned }) };
}

export function readBackup(obj: NetworkedObject): NetworkBackup | undefined {
  const text = obj.metadata?.annotations?.[NETWORK_BACKUP_ANNOTATION];
  if (text === undefined) return undefined;
  try {
    const b = JSON.parse(text) as NetworkBackup;
    return b && b.v === 1 ? b : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The merge patch that brings the annotation up to date with the object's network fields, or
 * undefined when it already is. The controller sends it with its other metadata writes.
 */
export function backupPatch(
  obj: NetworkedObject,
): { metadata: { annotations: Record<string, string | null> } } | undefined {
  const want = backupOf(obj);
  // Compared as JSON: equality must not depend on which realm built the objects.
  if (stableJson(want) === stableJson(readBackup(obj))) return undefined;
  return { metadata: { annotations: { [NETWORK_BACKUP_ANNOTATION]: want ? stableJson(want) : null } } };
}

/**
 * Merge patches that put back network fields that are gone but backed up: one for the object,
 * one for its status subresource. Only to be used after the CRD guard restored a lost schema,
 * since outside that a missing spec.network is the user's choice.
 */
export function restorePatches(obj: NetworkedObject): { spec?: object; status?: object } {
  const b = readBackup(obj);
  if (!b) return {};
  const out: { spec?: object; status?: object } = {};
  if (obj.spec?.network === undefined && b.spec !== undefined) out.spec = { spec: { network: b.spec } };
  const st = obj.status?.network;
  if (b.assigned && st?.ipv4 === undefined && st?.mac === undefined)
    out.status = { status: { network: b.assigned } };
  return out;
}

/** JSON with sorted keys, so that an unchanged backup is byte-identical (no empty writes). */
export function stableJson(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) =>
    x && typeof x === 'object' && !Array.isArray(x)
      ? Object.fromEntries(Object.entries(x).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : x,
  );
}
