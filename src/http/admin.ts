/**
 * Cleaning up through the front door (README): `PUT /api/v1/admin/wipe` (the Pushgateway's) and
 * `DELETE /api/v1/admin/jobs/{glob}` (pushring's own), both with `?dry_run=true`. Auth's hook
 * already holds them to the admin scope (core/auth.ts ADMIN_PREFIXES). Each call reads every
 * replica of every shard (admin/collect.ts), refuses whole when a shard cannot be read, deletes
 * through a DELETE's write path (admin/delete.ts), is logged with who called and counted.
 */
import type { FastifyBaseLogger, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { collectGroups } from '../admin/collect.js';
import { deletePlanned, type DeletePath } from '../admin/delete.js';
import { ANONYMOUS } from '../core/auth.js';
import { answerAfterDeleting, answerBeforeDeleting, parseDryRun, parseJobsPath, type AdminAnswer, type AdminCall } from '../core/admin.js';
import { credentialOf } from './auth.js';
import { renderError, sendError } from './errors.js';
import type { SelfMetrics } from './self-metrics.js';

export interface AdminOptions extends DeletePath {
  readonly metrics: Pick<SelfMetrics, 'adminCall'>;
  readonly log: FastifyBaseLogger;
}

export function registerAdmin(app: FastifyInstance, options: AdminOptions): void {
  const { metrics, log } = options;

  const run = async (call: AdminCall, pattern: string, request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const query = parseDryRun(request.url);
    if (!query.ok) {
      await sendError(reply, 'PUSHRING_ADMIN_BAD_REQUEST', { problem: query.problem });
      return;
    }
    const { dryRun } = query;
    // Without credentials in force there is nobody to name (a Pushgateway is open).
    const credential = credentialOf(request) ?? ANONYMOUS;
    const plan = await collectGroups(options.cluster, pattern);
    const answer = answerBeforeDeleting(call, plan, dryRun) ?? answerAfterDeleting(call, plan, await deletePlanned(options, plan));
    const { body } = answer;
    metrics.adminCall(call, answer.outcome, body.deleted, body.failed);
    const fields = { credential, call, jobs: pattern, dryRun, outcome: answer.outcome, matched: body.matched, deleted: body.deleted, failed: body.failed };
    if (answer.outcome === 'refused' || answer.outcome === 'partial')
      log.warn({ ...fields, unreadShards: body.unreadShards }, 'administrative delete incomplete');
    else log.info(fields, dryRun ? 'administrative delete: dry run' : 'administrative delete');
    await send(reply, answer);
  };

  app.put('/api/v1/admin/wipe', async (request, reply) => run('wipe', '*', request, reply));
  app.delete('/api/v1/admin/jobs/*', async (request, reply) => {
    const parsed = parseJobsPath(request.url);
    if (!parsed.ok) {
      await sendError(reply, 'PUSHRING_ADMIN_BAD_REQUEST', { problem: parsed.problem });
      return;
    }
    await run('jobs', parsed.glob, request, reply);
  });
}

async function send(reply: FastifyReply, answer: AdminAnswer): Promise<void> {
  const { body, code } = answer;
  reply.code(answer.status).type('application/json');
  if (code === undefined) {
    await reply.send(body);
    return;
  }
  const context = code === 'PUSHRING_ADMIN_SHARD_UNREADABLE' ? { shard: body.unreadShards.join(', ') } : { failures: body.failed };
  const error = renderError(code, context as never).body.trimEnd();
  await reply.header('x-pushring-error', code).send({ ...body, error });
}
