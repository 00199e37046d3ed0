import { serializeImageManifest } from '../../appc/image-manifest.ts';
import { APPC_VERSION } from '../../appc/spec-version.ts';
import type { ImageManifest, Label } from '../../appc/types.ts';
import type { CrossSpec } from './spec.ts';

/**
 * The image manifest of one arch's image, as canonical JSON. Dependencies get the
 * target's os and arch unless the spec pins them: an armv6l image must sit on an
 * armv6l base. `created` is only written when the build is reproducible
 * (SOURCE_DATE_EPOCH), since the current time would change the image ID every build.
 */
export function crossManifest(spec: CrossSpec, arch: string, sourceDateEpoch: number | undefined): Buffer {
  const platform = { os: 'linux', arch };
  const annotations = { ...spec.annotations };
  if (sourceDateEpoch !== undefined && annotations['created'] === undefined) {
    annotations['created'] = new Date(sourceDateEpoch * 1000).toISOString().replace('.000Z', 'Z');
  }
  const manifest: ImageManifest = {
    acKind: 'ImageManifest',
    acVersion: APPC_VERSION,
    name: spec.name,
    labels: labels({ version: spec.version, ...platform, ...spec.labels }),
    annotations: labels(annotations),
    dependencies: spec.dependencies.map((d) => {
      const dep = { imageName: d.imageName, labels: labels({ ...platform, ...d.labels }) };
      return { ...dep, ...(d.imageID && { imageID: d.imageID }), ...(d.size && { size: d.size }) };
    }),
    pathWhitelist: [],
  };
  if (spec.app) manifest.app = spec.app;
  return Buffer.from(serializeImageManifest(manifest, { pretty: true }));
}

// Sorted by name so that the manifest's bytes do not depend on the spec's key order.
function labels(map: Record<string, string>): Label[] {
  return Object.keys(map)
    .sort()
    .map((name) => ({ name, value: map[name]! }));
}
