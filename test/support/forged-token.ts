import { SignJWT } from 'jose';

const FORGED_SECRET = new TextEncoder().encode('not-the-gateway-secret-but-just-as-long');

/** A token with a valid shape and claims (sub `uid`, an hour to live), signed with the wrong secret. */
export function forgedToken(uid: string): Promise<string> {
  return new SignJWT({})
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(uid)
    .setIssuedAt()
    .setExpirationTime('1h')
    .sign(FORGED_SECRET);
}
