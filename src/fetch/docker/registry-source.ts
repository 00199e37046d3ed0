import { createReadStream } from 'node:fs';
import { join } from 'node:path';
import { UserError } from '../../util/errors.ts';
import { progressMeter } from '../../util/progress.ts';
import { platformProblem, type Host } from '../match.ts';
import { loadCredentials } from './auth.ts';
import type { LayerInput } from './convert.ts';
import type { DockerFetchEnv, ResolvedImage, SourceReader } from './fetch-image.ts';
import { configPlatform, parseImageConfig } from './image-config.ts';
import { CONFIG_LIMIT, parseManifestDocument, refusedLayerType, type Descriptor, type ImageManifestDoc } from './media.ts';
import { appcPlatform, choosePlatform, type AppcPlatform } from './platform.ts';
import { appcName, formatDockerReference, manifestReference, parseDockerReference, registryHost } from './reference.ts';
import { RegistryClient } from './registry.ts';

// docker://: a registry's image, resolved for the host's platform, its layers downloaded
// into the fetch's temporary directory, a few at once, while earlier ones are converted.

const PARALLEL_DOWNLOADS = 3;

export function registryReader(text: string, env: DockerFetchEnv): SourceReader {
  const ref = parseDockerReference(text);
  const what = `docker://${text}`;
  const host = registryHost(ref);
  const client = new RegistryClient(host, ref.repository, {
    http: env.http,
    allowHttp: env.ctx.insecure.has('http'),
    credentials: () => loadCredentials(env.ctx, ref.domain),
    tries: env.opts.tries,
    retryDelayMs: env.opts.retryDelayMs,
  });
  return {
    what,
    url: formatDockerReference(ref),
    pinned: ref.digest !== undefined,
    plainHttp: () => client.plainHttp,
    async resolve(target: Host): Promise<ResolvedImage> {
      let fetched = await client.manifest(manifestReference(ref));
      let doc = parseManifestDocument(fetched.bytes, `manifest of ${what}`, fetched.mediaType);
      let chosen: AppcPlatform | undefined;
      if (doc.kind === 'index') {
        const choice = choosePlatform(what, doc.manifests, target);
        if ('problem' in choice) throw new UserError(choice.problem);
        chosen = appcPlatform(choice.entry.platform!);
        fetched = await client.manifest(choice.entry.digest, choice.entry);
        doc = parseManifestDocument(fetched.bytes, `manifest ${choice.entry.digest} of ${what}`, fetched.mediaType);
        if (doc.kind === 'index') throw new UserError(`${what}: the index entry for this platform is another index, which is not supported`);
      }
      const manifest: ImageManifestDoc = doc;
      let stop = async (): Promise<void> => {};
      checkLayers(manifest.layers, what);
      const configBytes = await client.smallBlob(manifest.config, CONFIG_LIMIT);
      const config = parseImageConfig(configBytes, `config of ${what}`);
      // An index's platform is the one chosen by; a config often leaves out the variant.
      const platform = chosen ?? configPlatform(config, what);
      const problem = platformProblem(what, platform.os, platform.arch, target);
      if (problem) throw new UserError(problem);
      return {
        manifestDigest: fetched.digest,
        configDigest: manifest.config.digest,
        config,
        platform,
        naming: {
          name: appcName(ref.domain, ref.repository),
          ...(ref.tag !== undefined ? { version: ref.tag } : {}),
          provenance: {
            'appc.io/docker/registryurl': ref.domain,
            'appc.io/docker/repository': ref.repository,
            ...(ref.tag !== undefined ? { 'appc.io/docker/tag': ref.tag } : {}),
            'appc.io/docker/manifesthash': fetched.digest,
            'appc.io/docker/imageid': manifest.config.digest,
          },
        },
        layers: async (tmp) => {
          const started = downloads(client, manifest.layers, tmp, what, env);
          stop = started.stop;
          return started.layers;
        },
        stop: () => stop(),
      };
    },
  };
}

export function checkLayers(layers: readonly Descriptor[], what: string): void {
  layers.forEach((l, i) => {
    const refused = refusedLayerType(l.mediaType);
    if (refused) throw new UserError(`${what}: layer ${i + 1} (${l.mediaType}) ${refused}`);
  });
}

export function layerLabel(i: number, n: number, digest: string): string {
  return `layer ${i + 1}/${n} (${digest.slice(0, 19)})`;
}

/**
 * Starts the downloads (PARALLEL_DOWNLOADS at a time, in order) and gives the layers as
 * they will be once downloaded; `stop` starts no more and waits for those under way.
 */
function downloads(
  client: RegistryClient,
  layers: readonly Descriptor[],
  tmp: string,
  what: string,
  env: DockerFetchEnv,
): { layers: LayerInput[]; stop(): Promise<void> } {
  const total = layers.reduce((sum, l) => sum + l.size, 0);
  const out = env.opts.progress === false ? undefined : (env.opts.progress ?? process.stderr);
  const meter = out ? progressMeter(`Downloading ${what}`, total, out) : undefined;
  meter?.resume();
  const jobs = layers.map((desc, i) => {
    let settle!: { resolve: () => void; reject: (err: unknown) => void };
    const done = new Promise<void>((resolve, reject) => (settle = { resolve, reject }));
    // A conversion that fails stops reading; later downloads must not be unhandled rejections.
    done.catch(() => {});
    return { desc, file: join(tmp, `layer-${i}`), done, settle };
  });
  let next = 0;
  let failed = false;
  const abort = new AbortController();
  let running = 0;
  const worker = async () => {
    running++;
    while (next < jobs.length && !failed) {
      const job = jobs[next++]!;
      try {
        await client.blobToFile(job.desc, job.file, meter, abort.signal);
        job.settle.resolve();
      } catch (err) {
        failed = true;
        job.settle.reject(err);
      }
    }
    if (--running === 0) meter?.end();
    // Jobs never started after a failure fail the same way.
    for (const job of jobs.slice(next)) job.settle.reject(new UserError(`${what}: an earlier layer failed`));
  };
  const workers: Promise<void>[] = [];
  for (let w = 0; w < Math.min(PARALLEL_DOWNLOADS, jobs.length); w++) workers.push(worker());
  if (jobs.length === 0) meter?.end();
  return {
    layers: jobs.map((job, i) => ({
      label: layerLabel(i, jobs.length, job.desc.digest),
      open: async () => {
        await job.done;
        return createReadStream(job.file, { highWaterMark: 1 << 20 });
      },
    })),
    async stop() {
      failed = true;
      abort.abort();
      await Promise.all(workers);
    },
  };
}
