/**
 * A push body (already gunzipped) into the families a Pushgateway 1.5.1 would build from it, by
 * its Content-Type as handler/push.go decides: delimited protobuf when the media type says so,
 * the text format otherwise. STUB: the parsers land next.
 */
import type { BodyLimits, ParsedBody } from './push-body.js';

export function parsePushBody(_body: Buffer, _contentType: string | undefined, _limits: BodyLimits): ParsedBody {
  throw new Error('core/parse-push-body: not implemented yet');
}
