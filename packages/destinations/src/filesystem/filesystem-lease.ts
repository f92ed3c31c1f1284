import type { LeaseRecord, LeaseStore } from '../lease.ts';
import type { FilesystemStore, VersionedObject } from './filesystem-store.ts';

/** Folder of the lease files under the dataset folder (one `<pipeline>.json` per running pipeline). */
export const LEASE_FOLDER = '_ferry_pipeline_lease';

/**
 * Pipeline leases as small files in the bucket, changed only by conditional writes (`putIf`,
 * `deleteIf`): of two runs claiming at once, one write wins and both read back the same holder. On S3
 * this relies on conditional writes (AWS S3 and MinIO have them; a store that ignores the headers, like
 * s3rver, still works for runs that do not start in the same instant).
 */
export function fileLeaseStore(store: FilesystemStore, keyOf: (relative: string) => string): LeaseStore {
  const key = (pipeline: string) => keyOf(`${LEASE_FOLDER}/${encodeURIComponent(pipeline)}.json`);
  const read = async (k: string): Promise<{ v: VersionedObject; lease?: LeaseRecord } | undefined> => {
    const v = await store.getVersioned(k);
    if (v === undefined) return undefined;
    try {
      return { v, lease: JSON.parse(v.text) as LeaseRecord };
    } catch {
      return { v }; // unreadable: treated as expired
    }
  };
  return {
    async claim(pipeline, lease, nowMs) {
      const k = key(pipeline);
      const body = `${JSON.stringify(lease)}\n`;
      // A lost conditional write means another claim changed it: read again and decide again.
      for (let attempt = 0; attempt < 3; attempt++) {
        const current = await read(k);
        const free =
          current === undefined ||
          current.lease === undefined ||
          current.lease.holder === lease.holder ||
          current.lease.expiresMs < nowMs;
        if (!free) return current.lease;
        if (await store.putIf(k, body, current?.v)) return lease;
      }
      return (await read(k))?.lease;
    },
    async release(pipeline, holder) {
      const k = key(pipeline);
      const current = await read(k);
      if (current?.lease?.holder === holder) await store.deleteIf(k, current.v);
    },
  };
}
