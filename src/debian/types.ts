// The contract of src/debian/: Debian repositories and packages, read without dpkg
// or apt, so that actool (and its cross-build pipeline) runs on macOS too.

/** One package relation: `libc6 (>= 2.36)`, `foo:any`. */
export interface Relation {
  name: string;
  /** The `:arch` qualifier, when given (`any`, `native`, or an arch). */
  arch?: string;
  op?: '<<' | '<=' | '=' | '>=' | '>>';
  version?: string;
}

/** `a | b (>= 1)`: any one of them satisfies the dependency. */
export type Alternatives = Relation[];

/** A binary package as a Packages index (or a .deb's control file) describes it. */
export interface PackageInfo {
  name: string;
  version: string;
  /** The Debian arch (armel, armhf, arm64, amd64) or `all`. */
  architecture: string;
  depends: Alternatives[];
  preDepends: Alternatives[];
  /** Virtual packages this one provides, optionally versioned (`Provides: foo (= 1.0)`). */
  provides: { name: string; version?: string }[];
  essential: boolean;
  /** `same`, `foreign`, `allowed`, or undefined. */
  multiArch?: string;
  /** required, important, standard, optional or extra: breaks ties between providers, as apt does. */
  priority?: string;
  /** Path of the .deb relative to the repository root (Packages `Filename`), or an absolute local path. */
  filename: string;
  size: number;
  /** Lowercase hex SHA-256 of the .deb, when the index gives it. */
  sha256?: string;
}

/** Where packages come from: an apt source, a file:// URL or a local directory. */
export interface RepoSource {
  /** http(s)://..., file:///..., or a local directory path (a repository or a plain folder of .deb files). */
  uri: string;
  /** e.g. bookworm; absent for a plain folder of .deb files. */
  suite?: string;
  /** e.g. ["main"]. */
  components?: string[];
  /**
   * A keyring (armored or binary OpenPGP keys, one or several) that must sign the
   * Release file, or a directory of them (`*.gpg`, `*.asc`, `*.pgp`, as /etc/apt/trusted.gpg.d).
   */
  keyring?: string;
  /** Armored keys given inline (a deb822 Signed-By block), used like `keyring`. */
  inlineKeys?: string;
  /** The arches apt uses this source for (`arch=` / Architectures:); absent means any the Release lists. */
  architectures?: string[];
}
