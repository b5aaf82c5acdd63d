import { Module } from '@nestjs/common';
import { join } from 'node:path';
import { LONGLINK_CONFIG } from '../config/config.constants.js';
import { LonglinkConfig } from '../config/longlink-config.js';
import { GuardsModule } from '../guards/guards.module.js';
import { SessionModule } from '../session/session.module.js';
import { DeliveryService } from './delivery.service.js';
import { MemoryMessageStore } from './memory-message.store.js';
import { MESSAGE_STORE, MessageStore } from './message.store.js';
import { MessagingController } from './messaging.controller.js';
import { MessagingService } from './messaging.service.js';
import { PostgresMessageStore } from './postgres-message.store.js';
import { SqliteMessageStore } from './sqlite-message.store.js';

/** The SQLite file under messaging.dataDir. */
export const SQLITE_FILE = 'longlink.sqlite';

function createStore(config: LonglinkConfig): MessageStore {
  const { store, dataDir, postgres } = config.messaging;
  if (store === 'memory') return new MemoryMessageStore();
  if (store === 'sqlite') return new SqliteMessageStore(join(dataDir, SQLITE_FILE));
  // The config schema refuses store: postgres without a url.
  const { url, poolSize, connectTimeoutMs, queryTimeoutMs } = postgres;
  if (url === null) throw new Error('messaging.postgres.url: must be set for store: postgres');
  return new PostgresMessageStore({ url, poolSize, connectTimeoutMs, queryTimeoutMs });
}

/** Reliable one-to-one messaging: send/ack, push/ack, retransmit, offline store and sync. */
@Module({
  imports: [SessionModule, GuardsModule],
  controllers: [MessagingController],
  providers: [
    { provide: MESSAGE_STORE, useFactory: createStore, inject: [LONGLINK_CONFIG] },
    DeliveryService,
    MessagingService,
  ],
  exports: [MessagingService, DeliveryService, MESSAGE_STORE],
})
export class MessagingModule {}
