/**
 * Reports a backend that runs in the other judging mode than configured. A checked Pushgateway
 * answers a stored PUT or POST 200; one started with --push.disable-consistency-check answers 202.
 * With judge.mode `front-door` a checked backend is only slow; with `backends` an unchecked one
 * is unsafe (nothing stops an inconsistent push from breaking its scrape).
 */
import { isAnswer, type Backend } from '../backends/client.js';
import type { JudgeConfig } from '../config/schema.js';
import type { WriteObserver } from '../write/fan-out.js';

export interface ModeWatch extends WriteObserver {
  /** The backends whose last stored PUT/POST answered in the other mode's status. */
  mismatched(): Backend[];
}

export function createModeWatch(mode: JudgeConfig['mode'], warn: (backend: Backend, message: string) => void): ModeWatch {
  const expected = mode === 'front-door' ? 202 : 200;
  const other = mode === 'front-door' ? 200 : 202;
  const wrong = new Set<Backend>();
  return {
    replicaResult(backend, result, request) {
      if (request.method === 'DELETE' || !isAnswer(result)) return;
      if (result.status === other) {
        if (wrong.has(backend)) return;
        wrong.add(backend);
        warn(
          backend,
          mode === 'front-door'
            ? 'this Pushgateway checks consistency itself (it answered 200, not 202): judge.mode is front-door, so start it with --push.disable-consistency-check; it is slow this way'
            : 'this Pushgateway does not check consistency (it answered 202): judge.mode is backends, so nothing stops an inconsistent push from breaking its scrape; start it without --push.disable-consistency-check, or set judge.mode to front-door',
        );
      } else if (result.status === expected) {
        wrong.delete(backend);
      }
    },
    replicaSkipped() {},
    mismatched: () => [...wrong],
  };
}
