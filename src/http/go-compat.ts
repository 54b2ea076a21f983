/**
 * The Pushgateway's own answers, reproduced byte for byte: what Go's net/http server and
 * httprouter send for a request that never reaches a push handler (a bad request line, a
 * redirect, a method without a route, a path that is not a push route).
 */
import type { FastifyError, FastifyReply } from 'fastify';
import type { OutgoingRequest } from '../backends/client.js';
import type { ParseResult } from '../core/grouping-key.js';

export const TEXT = 'text/plain; charset=utf-8';

/** Go's http.Error: the message, a newline, plain text, nosniff. */
export function sendGoError(reply: FastifyReply, message: string): Promise<void> | FastifyReply {
  return reply
    .type(TEXT)
    .header('x-content-type-options', 'nosniff')
    .send(message + '\n');
}

export function isPushMethod(method: string): method is OutgoingRequest['method'] {
  return method === 'PUT' || method === 'POST' || method === 'DELETE';
}

export function refusalStatus(parsed: ParseResult, method: string): number {
  if (parsed.ok) return method === 'OPTIONS' ? 200 : 405;
  switch (parsed.kind) {
    case 'bad-request':
      return 400;
    case 'redirect':
      // ServeMux's clean-path redirect is a 301 for every method; httprouter's trailing-slash
      // redirect exists only in the trees of the push methods, and is a 307 there.
      if (parsed.permanent) return 301;
      return isPushMethod(method) ? 307 : 404;
    case 'not-found':
      return 404;
    case 'invalid':
      // The handler never runs for a method without a route: the router answers first.
      return isPushMethod(method) ? 400 : method === 'OPTIONS' ? 200 : 405;
  }
}

/** Answers as a Pushgateway (Go's net/http, httprouter) does, byte for byte. */
export async function refuse(reply: FastifyReply, parsed: ParseResult, method: string, countPush: (method: string, status: number) => void): Promise<void> {
  const status = refusalStatus(parsed, method);
  countPush(method, status);
  reply.code(status);
  if (!parsed.ok && parsed.kind === 'redirect' && status !== 404) {
    reply.header('location', parsed.location);
    // Go's http.Redirect: an HTML link for GET (the type for HEAD too), nothing for the rest.
    if (method === 'GET' || method === 'HEAD') reply.type('text/html; charset=utf-8');
    const text = status === 301 ? 'Moved Permanently' : 'Temporary Redirect';
    await reply.send(method === 'GET' ? `<a href="${escapeHtml(parsed.location)}">${text}</a>.\n\n` : undefined);
  } else if (!parsed.ok && parsed.kind === 'bad-request') {
    await sendBadRequestLine(reply);
  } else if (status === 200 || status === 405) {
    // The path is a push route and the method is OPTIONS (200) or not a push method (405).
    reply.header('allow', 'DELETE, OPTIONS, POST, PUT');
    if (status === 200) await reply.send();
    else await sendGoError(reply, 'Method Not Allowed');
  } else {
    await sendGoError(reply, parsed.ok ? '' : parsed.kind === 'invalid' ? parsed.message : '404 page not found');
  }
}

/** Answers a request Fastify refused before routing it (its `frameworkErrors` option). */
export function sendFrameworkError(error: FastifyError, reply: FastifyReply): void {
  // A malformed percent-escape: Go's HTTP server refuses the request line itself.
  if (error.code === 'FST_ERR_BAD_URL') {
    void sendBadRequestLine(reply.code(400));
    return;
  }
  void sendGoError(reply.code(400), error.message);
}

/** Go's HTTP server refusing a request line it cannot parse. */
export async function sendBadRequestLine(reply: FastifyReply): Promise<void> {
  await reply.type(TEXT).header('connection', 'close').send('400 Bad Request');
}

/** Go's html.EscapeString, as http.Redirect uses it. */
function escapeHtml(s: string): string {
  return s.replace(/[&'<>"]/g, (c) => ({ '&': '&amp;', "'": '&#39;', '<': '&lt;', '>': '&gt;', '"': '&#34;' })[c]!);
}
