/**
 * The Vault addresses the controller may talk to. A SecretSync chooses `spec.vault.address`, and a
 * Vault server chooses where it redirects, so both are checked against the operator's list before
 * any connection is made: otherwise a tenant could make the controller send requests (and its
 * ServiceAccount JWTs or Vault tokens) to the API server, cloud metadata or any in-cluster service.
 */

/** `scheme://host[:port]` as WHATWG URL prints an origin (lower-case host, default port omitted);
 *  undefined for anything but an http(s) URL. */
export function originOf(address: string): string | undefined {
  let url: URL;
  try {
    url = new URL(address);
  } catch {
    return undefined;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return undefined;
  return url.origin;
}

/**
 * True when `address` is only `scheme://host[:port]` (an optional trailing `/` aside): no path,
 * query, fragment or user info, which would otherwise travel into every request URL.
 */
export function isBareOrigin(address: string): boolean {
  let url: URL;
  try {
    url = new URL(address);
  } catch {
    return false;
  }
  return (
    (url.protocol === 'http:' || url.protocol === 'https:') &&
    url.username === '' &&
    url.password === '' &&
    url.pathname === '/' &&
    url.search === '' &&
    url.hash === '' &&
    !address.includes('?') &&
    !address.includes('#') &&
    address.replace(/\/$/, '').split('/').length === 3
  );
}

/** The operator's allow-list, compared by origin: `https://Vault:443/` and `https://vault` are one. */
export class AllowedAddresses {
  readonly #origins: ReadonlySet<string>;

  constructor(addresses: Iterable<string>) {
    const origins = new Set<string>();
    for (const a of addresses) {
      const origin = originOf(a);
      if (origin !== undefined) origins.add(origin);
    }
    this.#origins = origins;
  }

  /** Whether a request may go to `address` (a base address or a full URL: only its origin counts). */
  allows(address: string | URL): boolean {
    const origin = typeof address === 'string' ? originOf(address) : address.origin;
    return origin !== undefined && this.#origins.has(origin);
  }

  get origins(): readonly string[] {
    return [...this.#origins];
  }
}
