import { Injectable } from '@nestjs/common';
import { DiscoveryService, MetadataScanner } from '@nestjs/core';
import { PATTERN_EXTRAS_METADATA, PATTERN_METADATA } from '@nestjs/microservices/constants.js';
import { RATE_LIMITS_METADATA, RateLimitOptions } from './rate-limit.decorator.js';

/** A @RateLimit found on a handler. */
export interface DeclaredLimit {
  readonly op: number;
  readonly pattern: string;
  readonly options: RateLimitOptions;
}

/** What the app's @MessagePattern handlers declare: their ops by pattern, and their @RateLimits. */
export interface DeclaredOps {
  readonly patterns: Map<string, number>;
  readonly limits: DeclaredLimit[];
}

/**
 * Reads handler metadata from the controllers (not from the transport's handler
 * table, which a hybrid app may fill later), once, at startup.
 */
@Injectable()
export class RateLimitDiscovery {
  constructor(
    private readonly discovery: DiscoveryService,
    private readonly scanner: MetadataScanner,
  ) {}

  scan(): DeclaredOps {
    const patterns = new Map<string, number>();
    const limits: DeclaredLimit[] = [];
    for (const wrapper of this.discovery.getControllers()) {
      const proto: unknown = wrapper.metatype?.prototype;
      if (typeof proto !== 'object' || proto === null) continue;
      for (const name of this.scanner.getAllMethodNames(proto)) {
        const method: unknown = (proto as Record<string, unknown>)[name];
        if (typeof method !== 'function') continue;
        const names: unknown = Reflect.getMetadata(PATTERN_METADATA, method);
        const extras = Reflect.getMetadata(PATTERN_EXTRAS_METADATA, method) as
          { op?: unknown } | undefined;
        if (!Array.isArray(names) || typeof extras?.op !== 'number') continue;
        const declared = (Reflect.getMetadata(RATE_LIMITS_METADATA, method) ??
          []) as RateLimitOptions[];
        for (const pattern of names) {
          if (typeof pattern !== 'string') continue;
          patterns.set(pattern, extras.op);
          for (const options of declared) limits.push({ op: extras.op, pattern, options });
        }
      }
    }
    return { patterns, limits };
  }
}
