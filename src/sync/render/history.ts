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
 * Which versions an objectVersionHistory object writes: the newest enabled
 * versions, newest first, starting at objectVersion when one is pinned, named
 * `<alias>/0`, `<alias>/1`, …. Only meaningful for objectVersionHistory ≥ 2;
 * for 0 and 1 the provider reads the single selected version instead.
 *
 * N + 1 of them, not N: the provider's loop checks its count after adding a
 * version, so it writes `<alias>/0` … `<alias>/<N>` when that many exist (its
 * documentation says N). We write what it writes, so that a class naming
 * `<alias>/<N>` in its secretObjects works with both.
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
  return sorted.slice(start, start + spec.objectVersionHistory + 1).map((v, index) => ({
    index,
    version: v.version,
    fileName: historyFileName(spec.objectAlias, index),
    id: objectId(spec, index),
  }));
}
