import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

// What systemd does with NOTIFY_SOCKET, for the tests: an AF_UNIX datagram socket with
// SO_PASSCRED, so each message arrives with the sender's PID (in this PID namespace).
// Node has no AF_UNIX datagrams, so a few lines of Python 3 listen and print one JSON
// line per message.

const SCRIPT = `
import json, os, socket, struct, sys
addr = sys.argv[1]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
s.bind('\\0' + addr[1:] if addr.startswith('@') else addr)
print('listening', flush=True)
while True:
    msg, anc, _, _ = s.recvmsg(4096, socket.CMSG_SPACE(12))
    pid = -1
    for level, kind, data in anc:
        if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
            pid = struct.unpack('iII', data[:12])[0]
    print(json.dumps({'pid': pid, 'text': msg.decode('utf8', 'replace')}), flush=True)
`;

export interface NotifyMessage {
  /** The sender's PID as the host sees it (the kernel's SCM_CREDENTIALS). */
  pid: number;
  text: string;
  /** Date.now() when it arrived here. */
  at: number;
}

export interface NotifyListener {
  /** The NOTIFY_SOCKET value: the path, or "@name" for an abstract socket. */
  address: string;
  messages: NotifyMessage[];
  /** Waits for a message whose text has the line `line` (READY=1). */
  waitFor(line: string, ms?: number): Promise<NotifyMessage>;
  close(): void;
}

const PYTHON = fs.existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';

/** Why the listener cannot run here, or false. */
export function whyNoListener(): string | false {
  const r = spawnSync(PYTHON, ['-c', 'import socket; socket.SO_PASSCRED'], { stdio: 'ignore' });
  return r.status === 0 ? false : 'needs python3 (the NOTIFY_SOCKET listener)';
}

/** Listens on `address` (a path, or "@name"); the path is removed again by close(). */
export async function listenNotify(address: string): Promise<NotifyListener> {
  const child = spawn(PYTHON, ['-c', SCRIPT, address], { stdio: ['ignore', 'pipe', 'pipe'] });
  const messages: NotifyMessage[] = [];
  let listening = false;
  let stderr = '';
  let buffered = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    buffered += d;
    for (let nl = buffered.indexOf('\n'); nl >= 0; nl = buffered.indexOf('\n')) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      if (line === 'listening') listening = true;
      else messages.push({ ...(JSON.parse(line) as { pid: number; text: string }), at: Date.now() });
    }
  });
  let exited = false;
  child.on('exit', () => (exited = true));
  for (const end = Date.now() + 10_000; !listening; await sleep(10)) {
    if (exited || Date.now() > end) throw new Error(`notify listener on ${address} did not start: ${stderr.trim()}`);
  }
  return {
    address,
    messages,
    async waitFor(line, ms = 30_000) {
      for (const end = Date.now() + ms; ; await sleep(20)) {
        const found = messages.find((m) => m.text.split('\n').includes(line));
        if (found) return found;
        if (Date.now() > end) throw new Error(`no ${line} on ${address} within ${ms} ms (got ${JSON.stringify(messages)})`);
      }
    },
    close() {
      child.kill('SIGKILL');
      if (address.startsWith('/')) fs.rmSync(address, { force: true });
    },
  };
}
