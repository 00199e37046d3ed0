// The appc image and pod manifests as TypeScript sees them after validation
// (spec/aci.md, spec/pods.md). Lists are always present, empty when the JSON had none;
// optional scalars are absent, never undefined-valued, so validated objects compare deeply.

export interface Label {
  name: string;
  value: string;
}

/** Same shape as a label: name is an AC Identifier, value free text. */
export type Annotation = Label;

export interface EnvironmentVariable {
  name: string;
  value: string;
}

export type EventHandlerName = 'pre-start' | 'post-stop';

export interface EventHandler {
  name: EventHandlerName;
  exec: string[];
}

/** `value` is the canonical shape for known isolators (see isolators.ts), else as given. */
export interface Isolator {
  name: string;
  value: unknown;
}

export interface MountPoint {
  name: string;
  path: string;
  readOnly: boolean;
}

export type PortProtocol = 'tcp' | 'udp';

export interface Port {
  name: string;
  protocol: PortProtocol;
  port: number;
  /** Ports port .. port+count-1; 1 when the JSON had none. */
  count: number;
  socketActivated: boolean;
}

export interface App {
  /** May be empty: a pod manifest or the command line can supply it. */
  exec: string[];
  eventHandlers: EventHandler[];
  user: string;
  group: string;
  supplementaryGIDs: number[];
  workingDirectory?: string;
  environment: EnvironmentVariable[];
  mountPoints: MountPoint[];
  ports: Port[];
  isolators: Isolator[];
  userAnnotations: Record<string, string>;
  userLabels: Record<string, string>;
}

export interface Dependency {
  imageName: string;
  imageID?: string;
  labels: Label[];
  size?: number;
}

export interface ImageManifest {
  acKind: 'ImageManifest';
  acVersion: string;
  name: string;
  labels: Label[];
  app?: App;
  annotations: Annotation[];
  dependencies: Dependency[];
  pathWhitelist: string[];
}

export type VolumeKind = 'host' | 'empty';

/** readOnly and recursive are absent when unset: the executor picks the default. */
export interface Volume {
  name: string;
  kind: VolumeKind;
  /** host volumes only. */
  source?: string;
  readOnly?: boolean;
  recursive?: boolean;
  /** empty volumes only, defaulted to "0755", 0 and 0. */
  mode?: string;
  uid?: number;
  gid?: number;
}

export interface Mount {
  volume: string;
  path: string;
  appVolume?: Volume;
}

/** id is absent only in a pod template that is not reified yet. */
export interface RuntimeImage {
  name?: string;
  id?: string;
  labels: Label[];
}

export interface RuntimeApp {
  name: string;
  image: RuntimeImage;
  app?: App;
  readOnlyRootFS: boolean;
  mounts: Mount[];
  annotations: Annotation[];
}

export interface ExposedPort {
  name: string;
  hostPort: number;
  hostIP?: string;
  podPort?: Port;
}

export interface PodManifest {
  acVersion: string;
  acKind: 'PodManifest';
  apps: RuntimeApp[];
  volumes: Volume[];
  isolators: Isolator[];
  annotations: Annotation[];
  ports: ExposedPort[];
  userAnnotations: Record<string, string>;
  userLabels: Record<string, string>;
}
