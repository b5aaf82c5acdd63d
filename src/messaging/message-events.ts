import { StoredMessage } from './message.types.js';

/** Emitted by MessagingService.stored$ once a new message is durable (resends are not repeated). */
export interface MessageStoredEvent {
  message: StoredMessage;
}
