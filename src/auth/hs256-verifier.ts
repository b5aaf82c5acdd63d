import { KeyObject, createHmac, createSecretKey, timingSafeEqual } from 'node:crypto';

/** Why a token was refused; the codes are jose's, so messages stay as they were. */
export type TokenProblem =
  | 'ERR_JWS_INVALID'
  | 'ERR_JOSE_ALG_NOT_ALLOWED'
  | 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED'
  | 'ERR_JWT_INVALID'
  | 'ERR_JWT_CLAIM_VALIDATION_FAILED'
  | 'ERR_JWT_EXPIRED';

export class TokenError extends Error {
  constructor(readonly code: TokenProblem) {
    super(code);
  }
}

export interface Hs256Options {
  secret: string;
  /** When set, `iss` must equal it. */
  issuer: string | null;
  /** When set, `aud` must equal it or contain it. */
  audience: string | null;
}

/** A base64url part as RFC 7515 writes it: no padding, no other alphabet. */
const BASE64URL = /^[A-Za-z0-9_-]+$/;
/** HMAC-SHA-256 is 32 bytes: 43 base64url characters. */
const SIGNATURE_CHARS = 43;

/**
 * Verifies HS256 login tokens with node:crypto's HMAC, synchronously: WebCrypto's
 * async verify (what jose uses) cost ~13–50 µs and a thread-pool job per LOGIN,
 * node's HMAC ~2.5 µs. It enforces what jose's jwtVerify did here (its spec
 * compares the two on the same tokens): alg HS256 only, no `crit`, `sub` and
 * `exp` required, `nbf`, `iat` as numbers, `iss`/`aud` when configured.
 */
export class Hs256Verifier {
  private readonly key: KeyObject;

  constructor(private readonly options: Hs256Options) {
    this.key = createSecretKey(Buffer.from(options.secret, 'utf8'));
  }

  /** The token's claims once signature and claims are valid; throws TokenError. */
  verify(token: string, nowMs = Date.now()): Record<string, unknown> & { sub: string } {
    const dot1 = token.indexOf('.');
    const dot2 = dot1 < 0 ? -1 : token.indexOf('.', dot1 + 1);
    if (dot2 < 0 || token.indexOf('.', dot2 + 1) >= 0) throw new TokenError('ERR_JWS_INVALID');
    const header64 = token.slice(0, dot1);
    const payload64 = token.slice(dot1 + 1, dot2);
    const signature64 = token.slice(dot2 + 1);
    if (!BASE64URL.test(header64) || !BASE64URL.test(payload64)) {
      throw new TokenError('ERR_JWS_INVALID');
    }
    const header = parseObject(header64, 'ERR_JWS_INVALID');
    if (header.alg !== 'HS256') {
      throw new TokenError(
        typeof header.alg === 'string' ? 'ERR_JOSE_ALG_NOT_ALLOWED' : 'ERR_JWS_INVALID',
      );
    }
    // Critical extensions we do not implement must fail the token (RFC 7515 §4.1.11).
    if (header.crit !== undefined) throw new TokenError('ERR_JWS_INVALID');
    if (signature64.length !== SIGNATURE_CHARS || !BASE64URL.test(signature64)) {
      throw new TokenError(
        signature64.length === 0 ? 'ERR_JWS_INVALID' : 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED',
      );
    }
    const expected = createHmac('sha256', this.key).update(token.slice(0, dot2)).digest();
    if (!timingSafeEqual(expected, Buffer.from(signature64, 'base64url'))) {
      throw new TokenError('ERR_JWS_SIGNATURE_VERIFICATION_FAILED');
    }
    const claims = parseObject(payload64, 'ERR_JWT_INVALID');
    this.checkClaims(claims, Math.floor(nowMs / 1000));
    return claims as Record<string, unknown> & { sub: string };
  }

  private checkClaims(claims: Record<string, unknown>, now: number): void {
    const { issuer, audience } = this.options;
    if (claims.sub === undefined || claims.exp === undefined) {
      throw new TokenError('ERR_JWT_CLAIM_VALIDATION_FAILED');
    }
    if (typeof claims.sub !== 'string') throw new TokenError('ERR_JWT_CLAIM_VALIDATION_FAILED');
    for (const name of ['exp', 'nbf', 'iat'] as const) {
      const value = claims[name];
      if (value !== undefined && (typeof value !== 'number' || !Number.isFinite(value))) {
        throw new TokenError('ERR_JWT_CLAIM_VALIDATION_FAILED');
      }
    }
    if (issuer !== null && claims.iss !== issuer) {
      throw new TokenError('ERR_JWT_CLAIM_VALIDATION_FAILED');
    }
    if (audience !== null) {
      const aud = claims.aud;
      const ok = aud === audience || (Array.isArray(aud) && aud.includes(audience));
      if (!ok) throw new TokenError('ERR_JWT_CLAIM_VALIDATION_FAILED');
    }
    if (typeof claims.nbf === 'number' && claims.nbf > now) {
      throw new TokenError('ERR_JWT_CLAIM_VALIDATION_FAILED');
    }
    if ((claims.exp as number) <= now) throw new TokenError('ERR_JWT_EXPIRED');
  }
}

function parseObject(part: string, problem: TokenProblem): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
  } catch {
    throw new TokenError(problem);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new TokenError(problem);
  }
  return value as Record<string, unknown>;
}
