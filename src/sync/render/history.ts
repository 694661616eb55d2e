// objectVersionHistory: which versions of an object are written, from the
// listing of its versions.
import { versionFromId, type VersionItem } from '../../keyvault/objects.ts';
import { historyFileName, objectId, type ObjectSpec } from '../spc.ts';

export interface HistoryEntry {
  index: number;
  version: string;
  fileName: string;
  id: string;
}

/**
 * Which versions an objectVersionHistory object writes: the N newest enabled
 * versions, newest first, starting at objectVersion when one is pinned, named
 * `<alias>/0`, `<alias>/1`, …. Only meaningful for objectVersionHistory ≥ 2;
 * for 0 and 1 the provider reads the single selected version instead.
 *
 * The provider's loop takes one version more than N when more exist; we take
 * N, which is what its documentation promises.
 */
export function pickVersionHistory(spec: ObjectSpec, items: readonly VersionItem[]): HistoryEntry[] {
  if (spec.objectVersionHistory < 2) return [];
  const createdMs = (item: VersionItem): number => {
    if (item.created instanceof Date) return item.created.getTime();
    return (item.created ?? 0) * 1000;
  };
  const sorted = items
    .filter((item) => item.enabled !== false)
    .map((item, order) => ({ version: versionFromId(item.id), created: createdMs(item), order }))
    .sort((a, b) => b.created - a.created || a.order - b.order);
  const pinned = spec.objectVersion !== '' && spec.objectVersion !== 'latest';
  const start = pinned ? sorted.findIndex((v) => v.version === spec.objectVersion) : 0;
  if (start < 0) return [];
  return sorted.slice(start, start + spec.objectVersionHistory).map((v, index) => ({
    index,
    version: v.version,
    fileName: historyFileName(spec.objectAlias, index),
    id: objectId(spec, index),
  }));
}
