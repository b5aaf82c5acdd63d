/**
 * A reply body that is already JSON text: the transport sends it as is instead
 * of running JSON.stringify. For hot handlers that build their reply from a
 * template (SEND_ACK); the text must be valid JSON.
 */
export class RawJson {
  constructor(readonly text: string) {}
}
