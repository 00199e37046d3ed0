import { Transform } from 'node:stream';

/**
 * A pass-through that counts bytes and, only when stderr is a terminal, redraws one
 * status line ("building x.aci: 12.0 MB, 40.1 MB/s"). In scripts it prints nothing.
 * `total` (when known) adds a percentage and an ETA.
 */
export function progressMeter(label: string, total?: number, out: NodeJS.WriteStream = process.stderr): Transform {
  const enabled = out.isTTY === true;
  const started = Date.now();
  let bytes = 0;
  let lastDraw = 0;
  const draw = (final: boolean) => {
    const seconds = Math.max((Date.now() - started) / 1000, 0.001);
    const rate = bytes / seconds;
    let line = `${label}: ${formatBytes(bytes)}, ${formatBytes(rate)}/s`;
    if (total && !final) line += `, ${Math.floor((bytes / total) * 100)}%, eta ${Math.ceil((total - bytes) / Math.max(rate, 1))}s`;
    out.write(`\r\x1b[K${line}${final ? '\n' : ''}`);
  };
  return new Transform({
    transform(chunk: Buffer, _enc, done) {
      bytes += chunk.length;
      if (enabled && Date.now() - lastDraw > 200) {
        lastDraw = Date.now();
        draw(false);
      }
      done(null, chunk);
    },
    flush(done) {
      if (enabled) draw(true);
      done();
    },
  });
}

function formatBytes(n: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) {
    n /= 1000;
    i++;
  }
  return `${i === 0 ? n : n.toFixed(1)} ${units[i]}`;
}
