import {
  EXCEPTION_FILTERS_METADATA,
  GUARDS_METADATA,
  INTERCEPTORS_METADATA,
  ROUTE_ARGS_METADATA,
} from '@nestjs/common/constants.js';
import { Injectable, Logger, OnModuleInit } from '@nestjs/common';
import { ApplicationConfig, DiscoveryService, MetadataScanner, ModuleRef } from '@nestjs/core';
import { ExecutionContextHost } from '@nestjs/core/helpers/execution-context-host.js';
import { BaseRpcExceptionFilter } from '@nestjs/microservices';
import { PATTERN_HANDLER_METADATA, PATTERN_METADATA } from '@nestjs/microservices/constants.js';
import { DirectHandler, DirectRouteSource, REPLICATED_BY_DIRECT_ROUTES } from './direct-route.js';
import { ErrorCode } from './error-codes.js';
import { LonglinkContext } from './longlink.context.js';
import { LonglinkException } from './longlink.exception.js';
import { LonglinkServer } from './longlink.server.js';

/** Nest's PatternHandler.MESSAGE: a request/response handler (not an event). */
const MESSAGE_HANDLER = 1;

type Method = (data: unknown, ctx: LonglinkContext) => unknown;

/**
 * Finds the routes whose Nest handler chain would do nothing but call the
 * method, so the transport can call it directly: a static controller, the
 * method declared with @NoParamPipes() (so no parameter is resolved), no guard,
 * interceptor or filter on the method or its class, and no global ones except
 * guards marked REPLICATED_BY_DIRECT_ROUTES (LoginRequiredGuard), whose check
 * the direct handler makes itself. Any other
 * enhancer, anywhere, keeps the route on Nest's path, as does anything this
 * cannot read (then every route stays there).
 */
@Injectable()
export class DirectRoutesService implements DirectRouteSource, OnModuleInit {
  private readonly logger = new Logger('DirectRoutes');
  private readonly filter = new BaseRpcExceptionFilter();
  private methods: Map<string, { instance: object; method: Method }> | null = null;

  constructor(
    private readonly server: LonglinkServer,
    private readonly discovery: DiscoveryService,
    private readonly scanner: MetadataScanner,
    private readonly moduleRef: ModuleRef,
  ) {}

  onModuleInit(): void {
    this.server.useDirectRoutes(this);
  }

  resolve(pattern: string, isPublic: boolean): DirectHandler | undefined {
    // Read once, at listen time: every global enhancer is registered by then.
    this.methods ??= this.scan();
    const found = this.methods.get(pattern);
    if (!found) return undefined;
    const { instance, method } = found;
    if (isPublic) return (data, ctx) => method.call(instance, data, ctx);
    return (data, ctx) => {
      if (ctx.getUser() === undefined) {
        throw new LonglinkException(ErrorCode.NotLoggedIn, 'log in first');
      }
      return method.call(instance, data, ctx);
    };
  }

  /** What Nest's default RPC exception filter makes of an error (and its logging). */
  mapError(err: unknown): unknown {
    let mapped: unknown = err;
    this.filter
      .catch(err, new ExecutionContextHost([]))
      .subscribe({ error: (e: unknown) => (mapped = e) });
    return mapped;
  }

  private scan(): Map<string, { instance: object; method: Method }> {
    const found = new Map<string, { instance: object; method: Method }>();
    if (!this.globalsAllowDirect()) return found;
    const ambiguous = new Set<string>();
    for (const wrapper of this.discovery.getControllers()) {
      const instance: unknown = wrapper.instance;
      if (!wrapper.isDependencyTreeStatic() || typeof instance !== 'object' || instance === null) {
        continue;
      }
      const type = instance.constructor;
      if (hasEnhancers(type)) continue;
      const proto: object = Object.getPrototypeOf(instance);
      for (const name of this.scanner.getAllMethodNames(proto)) {
        const method: unknown = (proto as Record<string, unknown>)[name];
        if (typeof method !== 'function') continue;
        if (Reflect.getMetadata(PATTERN_HANDLER_METADATA, method) !== MESSAGE_HANDLER) continue;
        const patterns: unknown = Reflect.getMetadata(PATTERN_METADATA, method);
        if (!Array.isArray(patterns)) continue;
        const direct = !hasEnhancers(method) && declaresNoParams(type, name);
        for (const pattern of patterns) {
          if (typeof pattern !== 'string') continue;
          // The same pattern on two controllers (other transports): leave both to Nest.
          if (found.has(pattern) || ambiguous.has(pattern)) {
            found.delete(pattern);
            ambiguous.add(pattern);
          } else if (direct) found.set(pattern, { instance, method: method as Method });
          else ambiguous.add(pattern);
        }
      }
    }
    this.logger.debug?.(`direct routes: ${[...found.keys()].join(', ') || 'none'}`);
    return found;
  }

  /** No global interceptor, filter or pre-request hook; no global guard but a replicated one. */
  private globalsAllowDirect(): boolean {
    const config = (this.moduleRef as unknown as { container?: { applicationConfig?: unknown } })
      .container?.applicationConfig;
    if (!(config instanceof ApplicationConfig)) return false;
    return (
      config.getGlobalGuards().every(isReplicated) &&
      config.getGlobalRequestGuards().length === 0 &&
      config.getGlobalInterceptors().length === 0 &&
      config.getGlobalRequestInterceptors().length === 0 &&
      config.getGlobalFilters().length === 0 &&
      config.getGlobalRequestFilters().length === 0 &&
      config.getGlobalPreRequestHooks().length === 0
    );
  }
}

/** A global guard whose check the direct handlers make themselves (the login check). */
function isReplicated(guard: unknown): boolean {
  return (
    (guard as { [REPLICATED_BY_DIRECT_ROUTES]?: boolean })[REPLICATED_BY_DIRECT_ROUTES] === true
  );
}

function hasEnhancers(target: object): boolean {
  return [GUARDS_METADATA, INTERCEPTORS_METADATA, EXCEPTION_FILTERS_METADATA].some((key) => {
    const list: unknown = Reflect.getMetadata(key, target);
    return Array.isArray(list) && list.length > 0;
  });
}

/** @NoParamPipes() leaves an empty parameter map: Nest passes (payload, context) as they are. */
function declaresNoParams(type: object, name: string): boolean {
  const params: unknown = Reflect.getMetadata(ROUTE_ARGS_METADATA, type, name);
  return typeof params === 'object' && params !== null && Object.keys(params).length === 0;
}
