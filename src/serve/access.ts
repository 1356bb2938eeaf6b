/**
 * Who may use `naflow serve`: the Host allow-list (always on: a page on another site that rebinds its
 * DNS name to this machine still sends its own name as Host, so it is refused) and the token (required
 * off loopback, as Jupyter does: `?token=` on the page, then an HttpOnly SameSite=Strict cookie, or an
 * `Authorization: Bearer` header). Also the scrubbing of server paths from messages sent to clients.
 */
import type http from 'node:http';
import crypto from 'node:crypto';
import os from 'node:os';
import { HttpError } from './http-util.js';

/** The addresses `naflow serve` treats as loopback: no token is needed there unless one is given. */
export const LOOPBACK_ADDRESSES: ReadonlySet<string> = new Set(['127.0.0.1', 'localhost', '::1']);

const WILDCARDS = new Set(['0.0.0.0', '::', '']);

/** A host name or address as compared: lower case, without IPv6 brackets. */
export function normalizeHost(name: string): string {
  return name
    .trim()
    .toLowerCase()
    .replace(/^\[(.*)\]$/, '$1');
}

/** The host part of a Host header (`name`, `name:port`, `[v6]`, `[v6]:port`), normalised; null if malformed. */
export function hostOfHeader(header: string | undefined): string | null {
  if (!header) return null;
  const m = /^(\[[0-9a-f:.]+\]|[^:[\]\s]+)(?::\d{1,5})?$/i.exec(header.trim());
  return m ? normalizeHost(m[1]) : null;
}

/**
 * The Host names the server answers to: the loopback names, the bound address (every interface's
 * address when bound to a wildcard such as 0.0.0.0 or ::) and the names the user added (--allow-host).
 */
export function hostAllowList(boundHost: string, extra: readonly string[] = []): Set<string> {
  const allowed = new Set<string>(LOOPBACK_ADDRESSES);
  const bound = normalizeHost(boundHost);
  if (WILDCARDS.has(bound)) {
    for (const addrs of Object.values(os.networkInterfaces())) for (const a of addrs ?? []) allowed.add(normalizeHost(a.address.replace(/%.*$/, '')));
  } else allowed.add(bound);
  for (const name of extra) allowed.add(normalizeHost(name));
  return allowed;
}

/** Refuse (403) a request whose Host header is not on the allow-list. */
export function checkHost(allowed: ReadonlySet<string>, header: string | undefined): void {
  const host = hostOfHeader(header);
  if (host && allowed.has(host)) return;
  const shown = (header ?? '').slice(0, 100);
  if (!header) throw new HttpError(403, 'a Host header is required');
  throw new HttpError(
    403,
    `Host '${shown}' is not one this server answers to (DNS rebinding guard); start naflow serve with --allow-host ${host ?? 'NAME'} to accept it`,
  );
}

/** Characters a token may use: it travels in a URL query and a cookie unescaped. */
export const TOKEN_PATTERN = /^[A-Za-z0-9._~-]{16,256}$/;

/** A fresh random token (192 bits, hex). */
export const randomToken = (): string => crypto.randomBytes(24).toString('hex');

const digest = (t: string) => new Uint8Array(crypto.createHash('sha256').update(t).digest());
/** Compare in constant time (the digests have equal lengths whatever the inputs). */
const sameToken = (given: string, token: string) => crypto.timingSafeEqual(digest(given), digest(token));

function cookieValue(req: http.IncomingMessage, name: string): string | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

export interface TokenCheck {
  token: string;
  /** the cookie that carries it (named by port: cookies are shared by every port of a host) */
  cookie: string;
}

/**
 * Check the request's token. Returns true when the request was `GET /?token=…` with the right token:
 * the caller then answers with the cookie and a redirect to the bare page (the token leaves the
 * address bar). Throws 401 when no valid token came.
 */
export function checkToken(auth: TokenCheck, req: http.IncomingMessage, rawPath: string, query: URLSearchParams): boolean {
  const bearer = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '')?.[1];
  if (bearer !== undefined && sameToken(bearer, auth.token)) return false;
  const cookie = cookieValue(req, auth.cookie);
  const fromQuery = query.get('token');
  const page = rawPath === '/' || rawPath === '/index.html';
  if (page && fromQuery !== null && sameToken(fromQuery, auth.token)) return true;
  if (cookie !== undefined && sameToken(cookie, auth.token)) return false;
  throw new HttpError(
    401,
    fromQuery !== null || bearer !== undefined || cookie !== undefined
      ? 'wrong token: open the URL naflow serve printed (…/?token=…)'
      : 'this server needs its token: open the URL naflow serve printed (…/?token=…), or send Authorization: Bearer <token>',
    { 'WWW-Authenticate': 'Bearer realm="naflow serve"' },
  );
}

/** The Set-Cookie value that keeps the token for the page's later requests. */
export const tokenCookie = (auth: TokenCheck): string => `${auth.cookie}=${auth.token}; Path=/; HttpOnly; SameSite=Strict`;

/**
 * A message with every absolute path (POSIX, Windows or file://; not a URL's path) replaced by its file
 * name, so that errors sent to a client do not show the server's folders. The full message goes to the
 * server's log.
 */
export function redactPaths(message: string): string {
  const absolute = /(?<![\w.~/\\:-])(?:file:\/\/)?(?:\/|[A-Za-z]:\\)[^\s'"`:,;()[\]<>|*?]+/g;
  return message.replace(absolute, (p) => {
    const trailing = /[.]+$/.exec(p)?.[0] ?? '';
    const bare = p.slice(0, p.length - trailing.length);
    const name = bare.split(/[\\/]/).filter(Boolean).pop();
    return (name ?? '') + trailing;
  });
}
