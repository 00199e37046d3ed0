// Reading an Exec*= line back as systemd does (systemd.syntax(7) "Quoting",
// systemd.service(5) "Command lines"), for the tests: words split at whitespace; a word
// that starts with a double or single quote runs to the matching quote; C escapes in
// and out of quotes; "$$" is "$" and "%%" is "%" (this reader knows no variables or
// specifiers and refuses them, since the unit must not use any). A leading "-" (ignore
// failure) is returned apart.

export interface ExecLine {
  ignoreFailure: boolean;
  argv: string[];
}

const ESCAPES: Record<string, string> = { a: '\x07', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v', '\\': '\\', '"': '"', "'": "'", s: ' ' };

export function parseExecLine(value: string): ExecLine {
  let rest = value.trim();
  const ignoreFailure = rest.startsWith('-');
  if (ignoreFailure) rest = rest.slice(1);
  const argv: string[] = [];
  let i = 0;
  while (i < rest.length) {
    while (i < rest.length && /\s/.test(rest[i]!)) i++;
    if (i >= rest.length) break;
    let word = '';
    const quote = rest[i] === '"' || rest[i] === "'" ? rest[i++] : undefined;
    for (;;) {
      if (i >= rest.length) {
        if (quote) throw new Error(`unbalanced quoting in ${value}`);
        break;
      }
      const c = rest[i]!;
      if (quote ? c === quote : /\s/.test(c)) {
        i++;
        if (quote && i < rest.length && !/\s/.test(rest[i]!)) throw new Error(`a closing quote must end the word: ${value}`);
        break;
      }
      if (!quote && (c === '"' || c === "'")) throw new Error(`a quote inside a word: ${value}`);
      if (c === '\\') {
        const e = rest[i + 1];
        if (e === undefined) throw new Error(`trailing backslash in ${value}`);
        if (e === 'x') {
          word += String.fromCharCode(Number.parseInt(rest.slice(i + 2, i + 4), 16));
          i += 4;
        } else if (e === ';' && !quote) {
          word += ';';
          i += 2;
        } else if (ESCAPES[e] !== undefined) {
          word += ESCAPES[e];
          i += 2;
        } else {
          throw new Error(`unknown escape \\${e} in ${value}`);
        }
        continue;
      }
      if (c === '$' || c === '%') {
        if (rest[i + 1] !== c) throw new Error(`${c} not doubled (a variable or specifier) in ${value}`);
        word += c;
        i += 2;
        continue;
      }
      word += c;
      i++;
    }
    if (!quote && word === ';') throw new Error(`a lone ";" separates commands: ${value}`);
    argv.push(word);
  }
  return { ignoreFailure, argv };
}

/** The value of each `Key=` line of a unit, by key (repeated keys in order). */
export function unitValues(text: string): Map<string, string[]> {
  const values = new Map<string, string[]>();
  for (const line of text.split('\n')) {
    const m = /^([A-Za-z]+)=(.*)$/.exec(line);
    if (!m) continue;
    values.set(m[1]!, [...(values.get(m[1]!) ?? []), m[2]!]);
  }
  return values;
}
