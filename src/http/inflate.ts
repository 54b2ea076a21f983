/** STUB until the parse stream lands: the bounded gunzip of a push body. */
export type Inflated =
  | { readonly ok: true; readonly body: Buffer }
  | { readonly ok: false; readonly kind: 'invalid'; readonly message: string }
  | { readonly ok: false; readonly kind: 'too-large'; readonly max: number };

export function inflateBody(body: Buffer, contentEncoding: string | undefined, _maxBytes: number): Inflated {
  if (contentEncoding === 'gzip') throw new Error('http/inflate: not implemented yet');
  return { ok: true, body };
}
