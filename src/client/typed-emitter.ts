/** Event name → listener arguments. */
export type EventMap<T> = { [K in keyof T]: unknown[] };

export type Listener<Args extends unknown[]> = (...args: Args) => unknown;

/**
 * A small typed event emitter with no dependency on node:events (the client is meant to run in
 * browsers too). Unlike node:events, emit() never throws: a listener that throws or rejects is
 * turned into a rejected promise in the returned list, for the owner to report.
 */
export class TypedEmitter<Events extends EventMap<Events>> {
  private readonly listeners = new Map<keyof Events, Listener<never[]>[]>();

  on<K extends keyof Events>(event: K, listener: Listener<Events[K]>): this {
    const list = this.listeners.get(event) ?? [];
    list.push(listener as Listener<never[]>);
    this.listeners.set(event, list);
    return this;
  }

  once<K extends keyof Events>(event: K, listener: Listener<Events[K]>): this {
    const wrapper: Listener<Events[K]> = (...args) => {
      this.off(event, wrapper);
      return listener(...args);
    };
    return this.on(event, wrapper);
  }

  off<K extends keyof Events>(event: K, listener: Listener<Events[K]>): this {
    const list = this.listeners.get(event);
    const index = list?.indexOf(listener as Listener<never[]>) ?? -1;
    if (list && index !== -1) list.splice(index, 1);
    return this;
  }

  listenerCount(event: keyof Events): number {
    return this.listeners.get(event)?.length ?? 0;
  }

  /** Calls the listeners in order; returns what each returned (a throw becomes a rejection). */
  protected emit<K extends keyof Events>(event: K, ...args: Events[K]): unknown[] {
    const list = [...(this.listeners.get(event) ?? [])] as Listener<Events[K]>[];
    return list.map((listener) => {
      try {
        return listener(...args);
      } catch (error) {
        return Promise.reject(error);
      }
    });
  }
}
