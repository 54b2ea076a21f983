/**
 * Writes a copy of a group to a replica (a repair, or a move to the group's new shard) so that
 * the replica answers for it as the original's replica does: the same families, and the same
 * verdict on the group's last push.
 *
 * A Pushgateway stamps whatever it stores with the time it receives it (push_time_seconds) and
 * refuses a push whose samples carry timestamps, with or without --push.disable-consistency-check
 * (`checkWriteRequest` in storage/diskmetricstore.go); a refused push sets the group's
 * push_failure_time_seconds to the time of the refusal (`setPushFailedTimestamp`), creating the
 * group if it has to, and leaves its families and push time alone. So no copy can carry the
 * original's times, but the order of the two can be reproduced: when the original's last push
 * failed, the copy is followed by a push the target refuses. A group that was never pushed
 * successfully (created by a refused push) is recreated the same way, without families.
 */
import type { Backend } from '../backends/client.js';
import { encodeGroup, pushRecordOf, REFUSED_PUSH_BODY, type ApiGroup } from '../core/exposition.js';
import { formatGroupingPath } from '../core/grouping-key.js';
import { groupingKeyOf } from '../core/repair.js';

export async function writeCopy(backend: Backend, group: ApiGroup): Promise<void> {
  const path = formatGroupingPath(groupingKeyOf(group));
  const { pushTime, lastPushFailed } = pushRecordOf(group);
  if (pushTime > 0 || !lastPushFailed) {
    const res = await backend.call('PUT', path, encodeGroup(group));
    if (res.status >= 300) throw new Error(`PUT answered ${res.status}: ${res.body.trim()}`);
  } else {
    // Never stored a push: whatever the target holds goes. A DELETE is queued like every write,
    // so the refused push below is applied after it.
    const res = await backend.call('DELETE', path);
    if (res.status >= 300) throw new Error(`DELETE answered ${res.status}: ${res.body.trim()}`);
  }
  if (!lastPushFailed) return;
  // POST, not PUT: were a Pushgateway ever to accept it, the copied families would stay.
  const res = await backend.call('POST', path, REFUSED_PUSH_BODY);
  // 400: refused at once (consistency check on); 202: queued, and refused when applied (off).
  if (res.status !== 400 && res.status !== 202) {
    throw new Error(`a push with a timestamp, sent to mark the copy's last push as failed, answered ${res.status}: ${res.body.trim()}`);
  }
}
