import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { PodHosts } from '../../src/pod/runtime.ts';
import { formatHosts, formatResolvConf, parseDnsFlags, parseHostsFlags, podEtcContents, podEtcFiles } from '../../src/stage0/dns.ts';
import { ExitCode } from '../../src/util/errors.ts';

const usage = (message: RegExp) => ({ name: 'UserError', exitCode: ExitCode.usage, message });

describe('parseDnsFlags', () => {
  it('is undefined without flags: the image keeps its file', () => {
    assert.equal(parseDnsFlags({}), undefined);
    assert.equal(parseDnsFlags({ dns: [], dnsSearch: [], dnsOpt: [] }), undefined);
  });

  it('takes repeated and comma-separated values, IPv4 and IPv6, in order', () => {
    assert.deepEqual(parseDnsFlags({ dns: ['192.0.2.53', '2001:db8::53,198.51.100.1'], dnsSearch: ['example.com', 'lan.'], dnsOpt: ['ndots:2', 'rotate'] }), {
      mode: 'pod',
      nameservers: ['192.0.2.53', '2001:db8::53', '198.51.100.1'],
      search: ['example.com', 'lan.'],
      options: ['ndots:2', 'rotate'],
    });
  });

  it('--dns-search or --dns-opt alone write a resolv.conf without nameservers', () => {
    assert.deepEqual(parseDnsFlags({ dnsSearch: ['example.com'] }), { mode: 'pod', nameservers: [], search: ['example.com'], options: [] });
  });

  it('host and none stand alone', () => {
    assert.deepEqual(parseDnsFlags({ dns: ['host'] }), { mode: 'host', nameservers: [], search: [], options: [] });
    assert.deepEqual(parseDnsFlags({ dns: ['none'] }), { mode: 'none', nameservers: [], search: [], options: [] });
    assert.throws(() => parseDnsFlags({ dns: ['host', '192.0.2.1'] }), usage(/^--dns=host stands alone/));
    assert.throws(() => parseDnsFlags({ dns: ['none'], dnsOpt: ['ndots:1'] }), usage(/^--dns=none stands alone/));
  });

  it('rejects a bad IP, domain or option with a one-line usage error naming the flag', () => {
    for (const bad of ['192.0.2.300', '8.8.8', 'dns.example.com', '']) {
      assert.throws(() => parseDnsFlags({ dns: [bad] }), usage(/^--dns=.*: not an IP address/), bad);
    }
    assert.throws(() => parseDnsFlags({ dnsSearch: ['bad domain'] }), usage(/^--dns-search=bad domain: not a domain name$/));
    assert.throws(() => parseDnsFlags({ dnsSearch: ['-x.com'] }), usage(/^--dns-search=/));
    assert.throws(() => parseDnsFlags({ dnsOpt: ['ndots 2'] }), usage(/^--dns-opt=ndots 2: /));
    // No value can add a line of its own to the file.
    assert.throws(() => parseDnsFlags({ dnsOpt: ['a\nnameserver 1.2.3.4'] }), usage(/^--dns-opt=/));
    assert.throws(() => parseDnsFlags({ dnsSearch: ['a\nnameserver'] }), usage(/^--dns-search=/));
  });
});

describe('parseHostsFlags', () => {
  it('is undefined without flags', () => {
    assert.equal(parseHostsFlags({}), undefined);
  });

  it('reads IP=HOST[,HOST...], repeatable', () => {
    assert.deepEqual(parseHostsFlags({ hostsEntry: ['192.0.2.10=db,db.local', '2001:db8::1=v6'] }), {
      mode: 'pod',
      entries: [
        { ip: '192.0.2.10', names: ['db', 'db.local'] },
        { ip: '2001:db8::1', names: ['v6'] },
      ],
    });
  });

  it('host copies the host file and stands alone', () => {
    assert.deepEqual(parseHostsFlags({ hostsEntry: ['host'] }), { mode: 'host', entries: [] });
    assert.throws(() => parseHostsFlags({ hostsEntry: ['host', '192.0.2.1=a'] }), usage(/^--hosts-entry=host stands alone/));
  });

  it('rejects bad entries with a one-line usage error naming the flag', () => {
    assert.throws(() => parseHostsFlags({ hostsEntry: ['db'] }), usage(/^--hosts-entry=db: give IP=HOST/));
    assert.throws(() => parseHostsFlags({ hostsEntry: ['192.0.2.10='] }), usage(/^--hosts-entry=192\.0\.2\.10=: give IP=HOST/));
    assert.throws(() => parseHostsFlags({ hostsEntry: ['192.0.2.10=a,,b'] }), usage(/^--hosts-entry=/));
    assert.throws(() => parseHostsFlags({ hostsEntry: ['192.0.2.999=db'] }), usage(/^--hosts-entry=192\.0\.2\.999=db: 192\.0\.2\.999 is not an IP address$/));
    assert.throws(() => parseHostsFlags({ hostsEntry: ['192.0.2.10=d b'] }), usage(/is not a host name$/));
  });
});

describe('formatting', () => {
  it('resolv.conf: nameservers, then one search line and one options line', () => {
    assert.equal(
      formatResolvConf({ mode: 'pod', nameservers: ['192.0.2.53', '192.0.2.54'], search: ['example.com', 'lan'], options: ['ndots:2', 'rotate'] }),
      'nameserver 192.0.2.53\nnameserver 192.0.2.54\nsearch example.com lan\noptions ndots:2 rotate\n',
    );
    assert.equal(formatResolvConf({ mode: 'pod', nameservers: ['192.0.2.53'], search: [], options: [] }), 'nameserver 192.0.2.53\n');
  });

  it('hosts: localhost on both loopbacks, the hostname on 127.0.0.1, then the entries', () => {
    const hosts: PodHosts = { mode: 'pod', entries: [{ ip: '192.0.2.10', names: ['db', 'db.local'] }] };
    assert.equal(formatHosts(hosts, 'rkt-1234'), '127.0.0.1\tlocalhost\n::1\tlocalhost\n127.0.0.1\trkt-1234\n192.0.2.10\tdb db.local\n');
  });

  it('hosts: an entry naming the hostname replaces its 127.0.0.1 line', () => {
    const hosts: PodHosts = { mode: 'pod', entries: [{ ip: '192.0.2.7', names: ['Sensor-1'] }] };
    assert.equal(formatHosts(hosts, 'sensor-1'), '127.0.0.1\tlocalhost\n::1\tlocalhost\n192.0.2.7\tSensor-1\n');
  });
});

describe('the pod files', () => {
  const read = (f: string) => `host ${f}\n`;

  it('none without flags or with --dns=none', () => {
    assert.deepEqual(podEtcFiles({}), []);
    assert.deepEqual(podEtcFiles({ dns: { mode: 'none', nameservers: [], search: [], options: [] } }), []);
    assert.deepEqual([...podEtcContents({ hostname: 'h', dns: { mode: 'none', nameservers: [], search: [], options: [] } }, read)], []);
  });

  it('host copies the host files; pod writes its own', () => {
    const options = { hostname: 'h', dns: { mode: 'host' as const, nameservers: [], search: [], options: [] }, hosts: { mode: 'host' as const, entries: [] } };
    assert.deepEqual(podEtcFiles(options), [
      { file: 'resolv.conf', target: '/etc/resolv.conf' },
      { file: 'hosts', target: '/etc/hosts' },
    ]);
    assert.deepEqual(Object.fromEntries(podEtcContents(options, read)), { 'resolv.conf': 'host /etc/resolv.conf\n', hosts: 'host /etc/hosts\n' });
    const own = { hostname: 'h', dns: { mode: 'pod' as const, nameservers: ['192.0.2.1'], search: [], options: [] } };
    assert.deepEqual(Object.fromEntries(podEtcContents(own, read)), { 'resolv.conf': 'nameserver 192.0.2.1\n' });
  });
});
