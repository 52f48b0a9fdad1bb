// How long a credential may be wherever Herald reads one: an `Authorization: Bearer` header, a
// `?token=` (snapshot, stream, `GET /v1/events?jobs=`), the CLI's `--api-key`. One number for
// all of them, so a token one place takes is never refused by another (docs/api.md, "Access").

/**
 * The longest credential, in characters: room for a watch JWT signed by the adopter (RS256 with a
 * 4096-bit key and a claim listing a few hundred ids), far more than Herald's own tokens and keys
 * need. A request head (16 KB, Node's `maxHeaderSize`; nginx's 8k per line) still holds one as a
 * bearer and one as a `?token=`. A longer one is a `400` in a query, a `401` in a header.
 */
export const MAX_CREDENTIAL_CHARS = 4096;
