import type { Annotation, ImageManifest, PodManifest } from '../appc/types.ts';

// The appc metadata service's routes (spec/ace.md, "App Container Metadata Service"), as
// pure functions: a request (method, path, form) and what the backend knows about the
// pod its token names, in; status, content type and body, out. The I/O (pods on disk,
// the store, the HMAC key, HTTP) is the backend's and the server's (server.ts).
//
//   GET  /{token}/acMetadata/v1/pod/annotations[/]          application/json
//   GET  /{token}/acMetadata/v1/pod/annotations/NAME        text/plain; charset=utf-8 (rkt's; not in the spec)
//   GET  /{token}/acMetadata/v1/pod/manifest                application/json
//   GET  /{token}/acMetadata/v1/pod/uuid                    text/plain; charset=us-ascii
//   POST /{token}/acMetadata/v1/pod/hmac/sign               text/plain; charset=us-ascii  (form: content)
//   POST /{token}/acMetadata/v1/pod/hmac/verify             text/plain; charset=us-ascii  (form: content, uuid|uid, signature)
//   GET  /{token}/acMetadata/v1/apps/APP/annotations[/]     application/json
//   GET  /{token}/acMetadata/v1/apps/APP/annotations/NAME   text/plain; charset=utf-8
//   GET  /{token}/acMetadata/v1/apps/APP/image/manifest     application/json
//   GET  /{token}/acMetadata/v1/apps/APP/image/id           text/plain; charset=us-ascii
//
// An unknown token is 401 (whatever follows it, so a token cannot be probed path by
// path); an unknown path, app or annotation 404; a wrong method 405 with Allow.

export const JSON_TYPE = 'application/json';
export const ASCII_TYPE = 'text/plain; charset=us-ascii';
export const UTF8_TYPE = 'text/plain; charset=utf-8';

/** A token as stage0 writes it: base64url, 128 bits or more (mds-token, registry.ts). */
const TOKEN_RE = /^[A-Za-z0-9_-]{22,128}$/;
const PREFIX = ['acMetadata', 'v1'];

/** The pod a token names, as the backend read it for this request. */
export interface PodView {
  uuid: string;
  /** The pod manifest's bytes as stage0 wrote them (fully reified). */
  manifestText: string;
  manifest: PodManifest;
}

export interface StoredImage {
  /** The image manifest's bytes as in the ACI. */
  text: string;
  manifest: ImageManifest;
}

export interface MetadataBackend {
  podByToken(token: string): Promise<PodView | undefined>;
  imageManifest(id: string): Promise<StoredImage | undefined>;
  /** base64 HMAC-SHA512 of `content` for the pod `uuid`. */
  sign(uuid: string, content: Buffer): string;
  verify(uuid: string, content: Buffer, signature: string): boolean;
}

export interface MdsRequest {
  method: string;
  /** The path, without the query, still percent-encoded. */
  path: string;
  /** The body of a POST, read by the server only for the routes that take one. */
  form?: () => Promise<URLSearchParams>;
}

export interface MdsResponse {
  status: number;
  type: string;
  body: string;
  headers?: Record<string, string>;
}

export type Route =
  | { kind: 'pod-annotations'; name?: string }
  | { kind: 'pod-manifest' }
  | { kind: 'pod-uuid' }
  | { kind: 'hmac-sign' }
  | { kind: 'hmac-verify' }
  | { kind: 'app-annotations'; app: string; name?: string }
  | { kind: 'app-image-manifest'; app: string }
  | { kind: 'app-image-id'; app: string };

export type Parsed = { token: string; route: Route } | { token?: string; error: MdsResponse };

const text = (status: number, body: string, type = ASCII_TYPE): MdsResponse => ({ status, type, body: body === '' ? '' : `${body}\n` });
const json = (value: unknown): MdsResponse => ({ status: 200, type: JSON_TYPE, body: JSON.stringify(value) });
const notFound = (): MdsResponse => text(404, 'not found');
const unauthorized = (): MdsResponse => text(401, 'unauthorized: unknown metadata service token');

/** The route `path` names (pure: no pod is looked at). */
export function parseRoute(method: string, path: string): Parsed {
  const raw = path.split('/');
  if (raw[0] !== '') return { error: notFound() };
  let parts: string[];
  try {
    parts = raw.slice(1).map((p) => decodeURIComponent(p));
  } catch {
    return { error: text(400, 'bad request: malformed percent-encoding') };
  }
  const token = parts[0] ?? '';
  if (!TOKEN_RE.test(token)) return { error: unauthorized() };
  if (parts[1] !== PREFIX[0] || parts[2] !== PREFIX[1]) return { token, error: notFound() };
  const rest = parts.slice(3);
  // A trailing slash on a listing ("annotations/") is the same listing.
  const route = match(rest);
  if (!route) return { token, error: notFound() };
  const post = route.kind === 'hmac-sign' || route.kind === 'hmac-verify';
  const allowed = post ? ['POST'] : ['GET', 'HEAD'];
  if (!allowed.includes(method)) {
    return { token, error: { ...text(405, 'method not allowed'), headers: { Allow: allowed.join(', ') } } };
  }
  return { token, route };
}

function match(p: string[]): Route | undefined {
  const annotationName = (from: number): { name?: string } | undefined => {
    const tail = p.slice(from);
    if (tail.length === 0 || (tail.length === 1 && tail[0] === '')) return {};
    const name = tail.join('/'); // AC identifiers may hold slashes: "example.com/ip-address"
    return name === '' || tail.includes('') ? undefined : { name };
  };
  if (p[0] === 'pod') {
    if (p[1] === 'annotations') {
      const n = annotationName(2);
      return n && { kind: 'pod-annotations', ...n };
    }
    if (p.length === 2 && p[1] === 'manifest') return { kind: 'pod-manifest' };
    if (p.length === 2 && p[1] === 'uuid') return { kind: 'pod-uuid' };
    if (p.length === 3 && p[1] === 'hmac' && p[2] === 'sign') return { kind: 'hmac-sign' };
    if (p.length === 3 && p[1] === 'hmac' && p[2] === 'verify') return { kind: 'hmac-verify' };
    return undefined;
  }
  if (p[0] === 'apps' && p[1] !== undefined && p[1] !== '') {
    const app = p[1];
    if (p[2] === 'annotations') {
      const n = annotationName(3);
      return n && { kind: 'app-annotations', app, ...n };
    }
    if (p.length === 4 && p[2] === 'image' && p[3] === 'manifest') return { kind: 'app-image-manifest', app };
    if (p.length === 4 && p[2] === 'image' && p[3] === 'id') return { kind: 'app-image-id', app };
  }
  return undefined;
}

/**
 * The app's annotations as the spec has them: the image's, each overridden by the pod
 * manifest's app annotation of the same name (in place), then the pod's others.
 */
export function mergeAnnotations(image: readonly Annotation[], app: readonly Annotation[]): Annotation[] {
  const overrides = new Map(app.map((a) => [a.name, a.value]));
  const merged = image.map((a) => ({ name: a.name, value: overrides.get(a.name) ?? a.value }));
  const fromImage = new Set(image.map((a) => a.name));
  for (const a of app) if (!fromImage.has(a.name)) merged.push({ name: a.name, value: a.value });
  return merged;
}

function annotationResponse(list: readonly Annotation[], name: string | undefined): MdsResponse {
  if (name === undefined) return json(list.map((a) => ({ name: a.name, value: a.value })));
  const found = list.find((a) => a.name === name);
  return found ? { status: 200, type: UTF8_TYPE, body: found.value } : notFound();
}

/** One request, answered. */
export async function handle(req: MdsRequest, backend: MetadataBackend): Promise<MdsResponse> {
  const parsed = parseRoute(req.method, req.path);
  if ('error' in parsed && parsed.token === undefined) return parsed.error;
  const pod = await backend.podByToken(parsed.token!);
  if (!pod) return unauthorized();
  if ('error' in parsed) return parsed.error;
  const route = parsed.route;

  switch (route.kind) {
    case 'pod-annotations':
      return annotationResponse(pod.manifest.annotations, route.name);
    case 'pod-manifest':
      return { status: 200, type: JSON_TYPE, body: pod.manifestText };
    case 'pod-uuid':
      return { status: 200, type: ASCII_TYPE, body: pod.uuid };
    case 'hmac-sign': {
      const form = await readForm(req);
      if (!(form instanceof URLSearchParams)) return form;
      const content = form.get('content');
      if (content === null) return text(400, 'bad request: the form has no "content" field');
      return { status: 200, type: ASCII_TYPE, body: backend.sign(pod.uuid, Buffer.from(content, 'utf8')) };
    }
    case 'hmac-verify': {
      const form = await readForm(req);
      if (!(form instanceof URLSearchParams)) return form;
      const content = form.get('content');
      const signature = form.get('signature');
      // The spec names the field "uuid"; CoreOS rkt read "uid". Either, not both differing.
      const uuids = [form.get('uuid'), form.get('uid')].filter((u): u is string => u !== null);
      if (content === null || signature === null || uuids.length === 0) {
        return text(400, 'bad request: the form needs "content", "uuid" and "signature"');
      }
      if (uuids.length === 2 && uuids[0]!.toLowerCase() !== uuids[1]!.toLowerCase()) {
        return text(400, 'bad request: "uuid" and "uid" differ');
      }
      const uuid = uuids[0]!.toLowerCase();
      if (!UUID_RE.test(uuid)) return text(400, 'bad request: "uuid" is not a UUID');
      return backend.verify(uuid, Buffer.from(content, 'utf8'), signature) ? text(200, 'OK') : text(403, 'forbidden: the signature does not match');
    }
    default: {
      const app = pod.manifest.apps.find((a) => a.name === route.app);
      const id = app?.image.id;
      if (!app || id === undefined) return notFound();
      if (route.kind === 'app-image-id') return { status: 200, type: ASCII_TYPE, body: id };
      const image = await backend.imageManifest(id);
      if (!image) return text(404, `not found: image ${id} is no longer in the store`);
      if (route.kind === 'app-image-manifest') return { status: 200, type: JSON_TYPE, body: image.text };
      return annotationResponse(mergeAnnotations(image.manifest.annotations, app.annotations), route.name);
    }
  }
}

export const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

async function readForm(req: MdsRequest): Promise<URLSearchParams | MdsResponse> {
  if (!req.form) return text(400, 'bad request: no form');
  try {
    return await req.form();
  } catch (err) {
    if (err instanceof FormError) return text(err.status, err.message);
    throw err;
  }
}

/** What the server throws from `form()` for a body it will not read. */
export class FormError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}
