/**
 * The web page for people at `/` (docs/reading.md "The page"): one static HTML document, its
 * script and its style sheet, read once when the app is built, over the JSON the reads serve
 * (/-/api/groups, /-/status, /-/api/refusals). The page renders every value a client chose (job
 * names, label values, refusal messages) as text; the Content-Security-Policy forbids inline
 * script and style, so a value that slipped into markup still could not run.
 */
import { readFileSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import { OPEN_PATHS } from '../core/auth.js';

/** From src/http/ under tsx and from dist/http/ alike: both sit two levels below the package root. */
const STATIC_DIR = new URL('../../static/page/', import.meta.url);

const ASSETS = [
  { route: '/', file: 'index.html', type: 'text/html; charset=utf-8' },
  { route: '/-/page/app.js', file: 'app.js', type: 'text/javascript; charset=utf-8' },
  { route: '/-/page/paths.js', file: 'paths.js', type: 'text/javascript; charset=utf-8' },
  { route: '/-/page/style.css', file: 'style.css', type: 'text/css; charset=utf-8' },
] as const;

const SECURITY_HEADERS = {
  'cache-control': 'no-cache',
  // `img-src data:` for the empty favicon only (an image cannot run script); scripts and styles come from files here alone.
  'content-security-policy': "default-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'; object-src 'none'",
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
} as const;

export function registerPage(app: FastifyInstance): void {
  for (const asset of ASSETS) {
    // Auth lets these through unauthenticated (core/auth.ts OPEN_PATHS): nothing else may be served here.
    if (!OPEN_PATHS.has(asset.route)) throw new Error(`the page's file ${asset.route} is not among auth's open paths`);
    const url = new URL(asset.file, STATIC_DIR);
    let body: Buffer;
    try {
      body = readFileSync(url);
    } catch (err) {
      throw new Error(`the page's file ${url.pathname} cannot be read (${(err as Error).message}); reinstall pushring: the package ships static/page/`, {
        cause: err,
      });
    }
    app.get(asset.route, async (_request, reply) => {
      await reply.headers(SECURITY_HEADERS).type(asset.type).send(body);
    });
  }
}
