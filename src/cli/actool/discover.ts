import type { CommandModule } from 'yargs';
import { detectHostArch } from '../../appc/arch.ts';
import { parseImageRef } from '../../appc/discovery.ts';
import { discover } from '../../fetch/discover.ts';
import { printJson, withFormat, type Format } from '../format.ts';
import { networkFrom, withNetworkOptions, type NetworkArgs } from '../network-options.ts';

interface Args extends NetworkArgs {
  names: string[];
  insecure: boolean;
  port?: number;
  json: boolean;
  format: Format;
}

export const discoverCommand: CommandModule<object, Args> = {
  command: 'discover <names..>',
  describe: "Find an image's download, signature and public key URLs by appc discovery",
  builder: (y) =>
    withNetworkOptions(withFormat(y))
      .positional('names', { type: 'string', array: true, demandOption: true, describe: 'NAME[:VERSION][,label=value...]' })
      .option('insecure', { type: 'boolean', default: false, describe: 'also try plain HTTP when HTTPS gives no answer' })
      .option('port', { type: 'number', describe: 'port of the discovery server, when not 443 (80 with --insecure)' })
      .option('json', { type: 'boolean', default: false, describe: 'the same as --format json (actool of rkt spelled it so)' })
      .example('$0 discover coreos.com/etcd:v3.1.0', 'where to download etcd for this machine')
      .example('$0 discover --json example.com/app,os=linux,arch=armv6l', 'the image for a Pi Zero, as JSON')
      .epilogue("os and arch default to this machine's; version defaults to latest."),
  handler: async (args) => {
    const host = detectHostArch();
    const format = args.json && args.format === 'text' ? 'json' : args.format;
    const net = await networkFrom(args);
    const found = [];
    for (const name of args.names) {
      const ref = parseImageRef(name, { os: host.os, arch: host.arch });
      found.push({ name: ref.name, labels: ref.labels, ...(await discover(ref, { ...net, insecure: args.insecure, port: args.port })) });
    }
    if (printJson(format, found)) return;
    for (const endpoints of found) {
      for (const { aci, signature } of endpoints.aci) process.stdout.write(`ACI: ${aci}, ASC: ${signature}\n`);
      if (endpoints.pubkeys.length > 0) process.stdout.write(`Keys: ${endpoints.pubkeys.join(', ')}\n`);
    }
  },
};
