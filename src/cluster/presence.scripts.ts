/*
 * Lua run atomically by Redis: presence changes are read-modify-write, and two
 * nodes logging in one user at once must be ordered by Redis itself.
 * KEYS[1] is always the user's presence hash {node, conn, epoch}. The epoch
 * only ever grows (it survives logouts), so a late message about an older
 * session can always be told from one about a newer session.
 */

/** Takes the user over: ARGV node, conn. Returns {epoch, previous node or false}. */
export const CLAIM = `
local epoch = redis.call('HINCRBY', KEYS[1], 'epoch', 1)
local previous = redis.call('HGET', KEYS[1], 'node')
redis.call('HSET', KEYS[1], 'node', ARGV[1], 'conn', ARGV[2])
redis.call('PERSIST', KEYS[1])
return {epoch, previous or false}
`;

/**
 * Gives the user up, only if ARGV node still owns it at ARGV epoch (a stale
 * owner never removes a newer one). The epoch stays; the hash expires after ARGV ttl ms.
 */
export const RELEASE = `
if redis.call('HGET', KEYS[1], 'node') == ARGV[1] and redis.call('HGET', KEYS[1], 'epoch') == ARGV[2] then
  redis.call('HDEL', KEYS[1], 'node', 'conn')
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
  return 1
end
return 0
`;

/**
 * After Redis lost or may have lost state: ARGV node, conn, epoch re-register a
 * live session. Returns 0 when another node holds the user at a newer epoch
 * (this session is stale and must end), else 1.
 */
export const RESTORE = `
local current = tonumber(redis.call('HGET', KEYS[1], 'epoch') or '0')
local owner = redis.call('HGET', KEYS[1], 'node')
local mine = tonumber(ARGV[3])
if owner and owner ~= ARGV[1] and current > mine then return 0 end
if current < mine then redis.call('HSET', KEYS[1], 'epoch', ARGV[3]) end
redis.call('HSET', KEYS[1], 'node', ARGV[1], 'conn', ARGV[2])
redis.call('PERSIST', KEYS[1])
return 1
`;

/** The node holding the user, if that node is alive (ARGV liveness key prefix); else false. */
export const LOCATE = `
local owner = redis.call('HGET', KEYS[1], 'node')
if not owner then return false end
if redis.call('EXISTS', ARGV[1] .. owner) == 1 then return owner end
return false
`;
