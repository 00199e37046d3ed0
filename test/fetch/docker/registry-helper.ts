import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createSign, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';

// Real registries for the tests: Debian's docker-registry (the distribution registry)
// on a loopback port with its storage in a temporary directory, optionally behind a
// token service run here (JWTs signed RS256 with a throw-away certificate, as
// docker/distribution's token auth expects), and skopeo to push OCI layouts to it.

const run = promisify(execFile);

export function whyNoRegistry(): string | false {
  for (const tool of ['docker-registry', 'skopeo', 'openssl']) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) return `no ${tool}: apt-get install docker-registry skopeo (bash scripts/install-test-deps.sh)`;
  }
  return false;
}

export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

export interface TokenAuth {
  realm: string;
  service: string;
  issuer: string;
  certFile: string;
}

export interface Registry {
  port: number;
  host: string;
  stop(): Promise<void>;
}

/** Starts docker-registry on 127.0.0.1 (on `port`, or a free one) with a config.yml written into `dir`; resolves once /v2/ answers. */
export async function startRegistry(dir: string, auth?: TokenAuth, port?: number): Promise<Registry> {
  port ??= await freePort();
  fs.mkdirSync(path.join(dir, 'storage'), { recursive: true });
  const config = [
    'version: 0.1',
    'log:',
    '  level: error',
    '  accesslog:',
    '    disabled: true',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${path.join(dir, 'storage')}`,
    '  delete:',
    '    enabled: true',
    'http:',
    `  addr: 127.0.0.1:${port}`,
    '  secret: test-secret',
    ...(auth
      ? ['auth:', '  token:', `    realm: ${auth.realm}`, `    service: ${auth.service}`, `    issuer: ${auth.issuer}`, `    rootcertbundle: ${auth.certFile}`]
      : []),
  ].join('\n');
  fs.writeFileSync(path.join(dir, 'config.yml'), `${config}\n`);
  const child: ChildProcess = spawn('docker-registry', ['serve', path.join(dir, 'config.yml')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  for (let i = 0; ; i++) {
    if (child.exitCode !== null) throw new Error(`docker-registry exited: ${stderr}`);
    const up = await new Promise<boolean>((resolve) => {
      const req = http.get({ host: '127.0.0.1', port, path: '/v2/' }, (res) => {
        res.resume();
        resolve(true);
      });
      req.on('error', () => resolve(false));
    });
    if (up) break;
    if (i > 100) throw new Error(`docker-registry did not start: ${stderr}`);
    await sleep(100);
  }
  return {
    port,
    host: `127.0.0.1:${port}`,
    async stop() {
      child.kill('SIGTERM');
      await exited;
    },
  };
}

/** `skopeo copy` from an OCI layout to the registry (plain HTTP), all platforms with `all`, Docker media types with `dockerFormat`. */
export async function skopeoPush(layout: string, ref: string, dest: string, opts: { all?: boolean; creds?: string; dockerFormat?: boolean } = {}): Promise<void> {
  const args = [
    'copy',
    '--quiet',
    '--insecure-policy',
    '--dest-tls-verify=false',
    ...(opts.all ? ['--all'] : []),
    ...(opts.creds ? ['--dest-creds', opts.creds] : []),
    // Docker's own media types (schema 2 manifest, manifest list) instead of OCI's.
    ...(opts.dockerFormat ? ['--format', 'v2s2'] : []),
  ];
  await run('skopeo', [...args, `oci:${layout}:${ref}`, `docker://${dest}`], { maxBuffer: 1 << 24 });
}

/** A token service for one registry: Basic `user:password` gets what it asks for, anyone else a token with no access. */
export async function startTokenService(dir: string, user: string, password: string): Promise<{ auth: TokenAuth; requests: string[]; stop(): Promise<void> }> {
  const key = path.join(dir, 'token.key');
  const certFile = path.join(dir, 'token.crt');
  spawnSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', certFile, '-days', '2', '-subj', '/CN=test token issuer'], { stdio: 'ignore' });
  const pem = fs.readFileSync(certFile, 'utf8');
  const der = Buffer.from(pem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64');
  const privateKey = fs.readFileSync(key, 'utf8');
  const requests: string[] = [];
  const service = 'test-registry';
  const issuer = 'test-issuer';
  const b64url = (b: Buffer | string) => Buffer.from(b).toString('base64url');
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const authz = req.headers.authorization ?? '';
    const given = authz.startsWith('Basic ') ? Buffer.from(authz.slice(6), 'base64').toString() : undefined;
    requests.push(`${given === undefined ? 'anonymous' : given.split(':')[0]} ${url.searchParams.getAll('scope').join(' ')}`);
    if (given !== undefined && given !== `${user}:${password}`) {
      res.writeHead(401, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ details: 'wrong user or password' }));
      return;
    }
    const access = given === undefined
      ? []
      : url.searchParams.getAll('scope').flatMap((s) => {
          const [type, name, actions] = s.split(':');
          return type && name && actions ? [{ type, name, actions: actions.split(',') }] : [];
        });
    const now = Math.floor(Date.now() / 1000);
    const header = b64url(JSON.stringify({ typ: 'JWT', alg: 'RS256', x5c: [der.toString('base64')] }));
    const claims = b64url(JSON.stringify({ iss: issuer, sub: given?.split(':')[0] ?? '', aud: service, exp: now + 300, nbf: now - 10, iat: now, jti: randomUUID(), access }));
    const signature = createSign('RSA-SHA256').update(`${header}.${claims}`).sign(privateKey);
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ token: `${header}.${claims}.${b64url(signature)}`, expires_in: 300 }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    auth: { realm: `http://127.0.0.1:${port}/token`, service, issuer, certFile },
    requests,
    stop: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/**
 * A plain-HTTP proxy in front of a registry that can misbehave on blob downloads:
 * `cutAfter` drops the first response of each blob after that many bytes (once), and
 * `corrupt` flips a byte of every blob. Records the Range headers it saw.
 */
export async function startProxy(target: number, opts: { cutAfter?: number; corrupt?: boolean }): Promise<{ port: number; ranges: string[]; stop(): Promise<void> }> {
  const ranges: string[] = [];
  const cut = new Set<string>();
  const server = http.createServer((req, res) => {
    const isBlob = /\/blobs\/sha256:/.test(req.url ?? '');
    if (isBlob && req.headers.range) ranges.push(String(req.headers.range));
    const upstream = http.request({ host: '127.0.0.1', port: target, path: req.url, method: req.method, headers: { ...req.headers, host: `127.0.0.1:${target}` } }, (up) => {
      const headers = { ...up.headers };
      if (up.headers.location) headers.location = up.headers.location.replace(`:${target}`, `:${(server.address() as net.AddressInfo).port}`);
      res.writeHead(up.statusCode ?? 502, headers);
      const key = req.url ?? '';
      let sent = 0;
      up.on('data', (chunk: Buffer) => {
        if (isBlob && opts.corrupt && sent === 0 && chunk.length > 0) chunk = Buffer.concat([Buffer.from([chunk[0]! ^ 0xff]), chunk.subarray(1)]);
        if (isBlob && opts.cutAfter !== undefined && !cut.has(key) && !req.headers.range && sent + chunk.length > opts.cutAfter && (up.statusCode ?? 0) === 200) {
          cut.add(key);
          up.destroy();
          // Dropped once what was sent so far is out, as a link that dies mid-transfer.
          res.write(chunk.subarray(0, opts.cutAfter - sent), () => setTimeout(() => res.socket?.destroy(), 50));
          return;
        }
        sent += chunk.length;
        res.write(chunk);
      });
      up.on('end', () => res.end());
    });
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    ranges,
    stop: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
