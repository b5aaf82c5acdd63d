import { Injectable, Logger, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { loadConfig } from '../config/config.loader.js';
import { LonglinkConfig } from '../config/longlink-config.js';
import { KickReason } from '../transport/error-codes.js';
import { LonglinkServer, describe } from '../transport/longlink.server.js';
import { AccessListService } from './access-list.service.js';

/**
 * Reloads the black and white lists without a restart: on SIGHUP the config
 * files and environment are read again (an invalid file keeps the old lists),
 * and the new lists apply to existing connections too, not only to new ones.
 */
@Injectable()
export class AccessReloadService implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger('AccessReload');
  private readonly onSighup = () => this.reloadFromConfig();

  constructor(
    private readonly access: AccessListService,
    private readonly server: LonglinkServer,
  ) {}

  onModuleInit(): void {
    process.on('SIGHUP', this.onSighup);
  }

  onModuleDestroy(): void {
    process.off('SIGHUP', this.onSighup);
  }

  reloadFromConfig(): boolean {
    let config: LonglinkConfig;
    try {
      config = loadConfig();
    } catch (err) {
      this.logger.error(`lists not reloaded: ${(err as Error).message}`);
      return false;
    }
    const kicked = this.apply(config.access);
    this.logger.log(`access lists reloaded; ${kicked} connection(s) no longer allowed were closed`);
    return true;
  }

  /** Installs new lists and kicks every connection they no longer admit; returns how many. */
  apply(lists: LonglinkConfig['access']): number {
    this.access.load(lists);
    let kicked = 0;
    this.server.forEachConnection((conn) => {
      const ipDenied = !this.access.isIpAllowed(conn.remoteAddress);
      const userDenied = conn.user !== undefined && !this.access.isUserAllowed(conn.user.uid);
      if (!ipDenied && !userDenied) return;
      this.logger.debug?.(`${describe(conn)} no longer allowed`);
      conn.kick(KickReason.AccessDenied, 'no longer allowed by the access lists');
      kicked++;
    });
    return kicked;
  }
}
