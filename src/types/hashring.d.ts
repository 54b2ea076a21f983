// The slice of `hashring` (3.2.0, untyped) that src/core/ring.ts relies on.
declare module 'hashring' {
  type Servers = Record<string, { vnodes: number }>;
  interface Options {
    'vnode count'?: number;
    'max cache size'?: number;
    replicas?: number;
  }
  export default class HashRing {
    constructor(servers: Servers, algorithm?: string, options?: Options);
    get(key: string): string | undefined;
  }
}
