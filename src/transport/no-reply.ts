/**
 * Return this from a handler for a PDU that takes no reply (acks): the transport
 * then sends nothing, where `undefined` would send an empty reply.
 */
export const NO_REPLY = Symbol('longlink.no-reply');
