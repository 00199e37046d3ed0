import { resolveEndpoints } from '../../appc/discovery.ts';
import { UserError } from '../../util/errors.ts';

// The discovery layout of an output directory, served as the web root of the image
// name's host (or of --base-url):
//   DIR/index.html                               ac-discovery and ac-discovery-pubkeys tags
//   DIR/pubkeys.asc                              the signing key's public part
//   DIR/example.com/hello-1.0.0-linux-armv7l.aci (and .aci.asc): {name} holds the slashes
// Discovery of example.com/hello asks https://example.com/hello?ac-discovery=1 (a 404
// from a static server), then https://example.com?ac-discovery=1, which is index.html.
// One template for every image under the host, so one DIR can collect several images.

export const TEMPLATE = '{name}-{version}-{os}-{arch}.{ext}';
export const PUBKEYS_FILE = 'pubkeys.asc';
export const INDEX_FILE = 'index.html';

/** The image's file relative to DIR: the template filled exactly as discovery fills it. */
export function imageFile(name: string, labels: { version: string; os: string; arch: string }): string {
  const [endpoint] = resolveEndpoints([{ prefix: name, kind: 'ac-discovery', content: TEMPLATE }], name, labels).aci;
  return endpoint!.aci;
}

/** The URL DIR is served at: --base-url, checked, or by default https://HOST/ of the image name. */
export function baseUrl(name: string, given: string | undefined): string {
  const text = given ?? `https://${name.split('/')[0]}/`;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new UserError(`cross: --base-url "${text}" is not an absolute URL (rkt needs one, such as https://example.com/)`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new UserError(`cross: --base-url "${text}" must be an http or https URL`);
  }
  if (url.search || url.hash) throw new UserError(`cross: --base-url "${text}" cannot hold a query or a fragment`);
  return url.href.endsWith('/') ? url.href : `${url.href}/`;
}

/** The discovery page: one template for every image of the host, and the key when there is one. */
export function discoveryPage(name: string, base: string, signed: boolean): string {
  const host = name.split('/')[0]!;
  const tags = [`<meta name="ac-discovery" content="${host} ${escape(base + TEMPLATE)}">`];
  if (signed) tags.push(`<meta name="ac-discovery-pubkeys" content="${host} ${escape(base + PUBKEYS_FILE)}">`);
  return [
    '<!DOCTYPE html>',
    '<html>',
    '<head>',
    '<meta charset="utf-8">',
    `<title>${escape(host)} images</title>`,
    ...tags,
    '</head>',
    '<body>',
    '<p>App Container images: <code>rkt fetch NAME:VERSION</code> finds them through the meta tags of this page.</p>',
    '</body>',
    '</html>',
    '',
  ].join('\n');
}

function escape(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
