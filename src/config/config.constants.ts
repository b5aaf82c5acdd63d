/** Nest injection token for the options given to LonglinkModule (before validation). */
export const LONGLINK_OPTIONS = Symbol('LONGLINK_OPTIONS');

/** Nest injection token for the validated LonglinkConfig. */
export const LONGLINK_CONFIG = Symbol('LONGLINK_CONFIG');

/**
 * The secret shipped in config/default.yaml. It is public, so anyone could mint tokens with it:
 * the loader refuses it when NODE_ENV=production.
 */
export const DEV_JWT_SECRET = 'longlink-development-secret-change-me';
