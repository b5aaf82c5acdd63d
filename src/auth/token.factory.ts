import { SignJWT } from 'jose';

export interface MintTokenOptions {
  secret: string;
  /** Lifetime, in jose's notation: '1h', '30m', '7d'. */
  expiresIn?: string;
  issuer?: string | null;
  audience?: string | null;
}

/** Mints an HS256 login token for `uid` (development tools, tests, benchmarks). */
export async function mintToken(uid: string, options: MintTokenOptions): Promise<string> {
  let jwt = new SignJWT({})
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(uid)
    .setIssuedAt()
    .setExpirationTime(options.expiresIn ?? '1h');
  if (options.issuer) jwt = jwt.setIssuer(options.issuer);
  if (options.audience) jwt = jwt.setAudience(options.audience);
  return jwt.sign(new TextEncoder().encode(options.secret));
}
