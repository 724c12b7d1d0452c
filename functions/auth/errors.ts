/**
 * The two ways authorization fails before any permission is checked. Both carry a message a
 * person can act on; neither ever carries the token itself.
 */

/** The token is missing, malformed, forged, expired or not meant for this API (401). */
export class TokenRejectedError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'TokenRejectedError';
  }
}

/**
 * The keys to check the token against could not be obtained (the JWKS endpoint is down, slow or
 * answers garbage, or the HS256 secret cannot be read). Our side failed: a 500, never an Allow.
 */
export class KeysUnavailableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'KeysUnavailableError';
  }
}
