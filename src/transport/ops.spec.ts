import { MessageHandler } from '@nestjs/microservices';
import fc from 'fast-check';
import { FIRST_APP_OP, Op, OpRegistry, OpRegistryError, REPLY_FLAG } from './ops.js';

/** A handler as Nest registers it: a function carrying `extras` and maybe `isEventHandler`. */
function handler(extras?: Record<string, unknown>, isEventHandler?: boolean): MessageHandler {
  const fn: MessageHandler = () => Promise.resolve(undefined);
  if (extras !== undefined) fn.extras = extras;
  if (isEventHandler !== undefined) fn.isEventHandler = isEventHandler;
  return fn;
}

/** Runs OpRegistry.fromHandlers expecting an OpRegistryError, and returns it. */
function registryError(handlers: Map<string, MessageHandler>): OpRegistryError {
  try {
    OpRegistry.fromHandlers(handlers);
  } catch (error) {
    expect(error).toBeInstanceOf(OpRegistryError);
    return error as OpRegistryError;
  }
  throw new Error('expected OpRegistry.fromHandlers to throw');
}

describe('OpRegistry', () => {
  describe('fromHandlers', () => {
    it('routes each handler that declares extras.op by that op', () => {
      const login = handler({ op: Op.LOGIN, public: true });
      const send = handler({ op: 1001 });
      const registry = OpRegistry.fromHandlers(
        new Map([
          ['login', login],
          ['chat.send', send],
        ]),
      );
      expect(registry.get(Op.LOGIN)).toEqual({
        op: Op.LOGIN,
        pattern: 'login',
        public: true,
        handler: login,
      });
      expect(registry.get(1001)).toEqual({
        op: 1001,
        pattern: 'chat.send',
        public: false,
        handler: send,
      });
      expect(registry.get(1001)!.handler).toBe(send);
    });

    it('lists routes sorted by op, whatever the registration order', () => {
      const registry = OpRegistry.fromHandlers(
        new Map([
          ['c', handler({ op: 3000 })],
          ['a', handler({ op: 1 })],
          ['b', handler({ op: 1001 })],
        ]),
      );
      expect(registry.list().map((r) => [r.op, r.pattern])).toEqual([
        [1, 'a'],
        [1001, 'b'],
        [3000, 'c'],
      ]);
    });

    it('answers undefined for an op no handler declared', () => {
      const registry = OpRegistry.fromHandlers(new Map([['a', handler({ op: 1001 })]]));
      expect(registry.get(1002)).toBeUndefined();
      expect(registry.get((1001 | REPLY_FLAG) >>> 0)).toBeUndefined();
    });

    it('ignores event handlers, even ones that declare an op', () => {
      const registry = OpRegistry.fromHandlers(
        new Map([
          ['user.joined', handler({ op: 1001 }, true)],
          ['chat.send', handler({ op: 1002 }, false)],
        ]),
      );
      expect(registry.list().map((r) => r.pattern)).toEqual(['chat.send']);
    });

    it('does not count an ignored event handler as a claim on its op', () => {
      const registry = OpRegistry.fromHandlers(
        new Map([
          ['user.joined', handler({ op: 1001 }, true)],
          ['chat.send', handler({ op: 1001 })],
        ]),
      );
      expect(registry.get(1001)?.pattern).toBe('chat.send');
    });

    it('ignores handlers without extras, with null extras, or with extras lacking op', () => {
      const registry = OpRegistry.fromHandlers(
        new Map<string, MessageHandler>([
          ['no-extras', handler()],
          ['empty-extras', handler({})],
          ['other-extras', handler({ public: true, transport: 'tcp' })],
          ['null-extras', Object.assign(handler(), { extras: null as unknown as undefined })],
        ]),
      );
      expect(registry.list()).toEqual([]);
    });

    it('builds an empty registry from no handlers', () => {
      expect(OpRegistry.fromHandlers(new Map()).list()).toEqual([]);
    });

    it('rejects two handlers claiming one op, naming both patterns', () => {
      const error = registryError(
        new Map([
          ['chat.send', handler({ op: 1001 })],
          ['chat.recall', handler({ op: 1001, public: true })],
        ]),
      );
      expect(error.message).toContain('1001');
      expect(error.message).toContain('"chat.send"');
      expect(error.message).toContain('"chat.recall"');
    });

    it.each([
      ['0', 0],
      ['a negative op', -1],
      ['the reply flag 0x80000000', REPLY_FLAG],
      ['an op above the reply flag', REPLY_FLAG + 5],
      ['0xffffffff', 0xffff_ffff],
      ['a non-integer', 1001.5],
      ['NaN', NaN],
      ['Infinity', Infinity],
      ['a numeric string', '1001'],
      ['undefined', undefined],
      ['null', null],
    ])('rejects %s as an op, naming the pattern', (_name, op) => {
      const error = registryError(new Map([['chat.bad', handler({ op })]]));
      expect(error.message).toContain('"chat.bad"');
      expect(error.message).toContain(`1..${REPLY_FLAG - 1}`);
    });

    it('accepts the smallest and the largest op', () => {
      const registry = OpRegistry.fromHandlers(
        new Map([
          ['first', handler({ op: 1 })],
          ['last', handler({ op: REPLY_FLAG - 1 })],
        ]),
      );
      expect(registry.list().map((r) => r.op)).toEqual([1, 0x7fff_ffff]);
    });

    it('marks a route public only when public is exactly true', () => {
      const registry = OpRegistry.fromHandlers(
        new Map<string, MessageHandler>([
          ['yes', handler({ op: 1, public: true })],
          ['no', handler({ op: 2, public: false })],
          ['omitted', handler({ op: 3 })],
          ['truthy-string', handler({ op: 4, public: 'true' })],
          ['truthy-number', handler({ op: 5, public: 1 })],
        ]),
      );
      expect(registry.list().map((r) => [r.pattern, r.public])).toEqual([
        ['yes', true],
        ['no', false],
        ['omitted', false],
        ['truthy-string', false],
        ['truthy-number', false],
      ]);
    });
  });

  describe('add', () => {
    it('rejects a duplicate added after fromHandlers, keeping the first route', () => {
      const first = handler({ op: FIRST_APP_OP });
      const registry = OpRegistry.fromHandlers(new Map([['first', first]]));
      expect(() => registry.add('second', handler(), { op: FIRST_APP_OP })).toThrow(
        OpRegistryError,
      );
      expect(registry.get(FIRST_APP_OP)?.handler).toBe(first);
      expect(registry.list()).toHaveLength(1);
    });

    it('does not register a handler it rejected', () => {
      const registry = new OpRegistry();
      expect(() => registry.add('bad', handler(), { op: 0 })).toThrow(OpRegistryError);
      expect(registry.list()).toEqual([]);
    });
  });

  describe('properties', () => {
    it('routes any set of distinct in-range ops to their handlers', () => {
      fc.assert(
        fc.property(
          fc.uniqueArray(fc.integer({ min: 1, max: REPLY_FLAG - 1 }), { maxLength: 30 }),
          (ops) => {
            const handlers = new Map(ops.map((op) => [`p${op}`, handler({ op })]));
            const registry = OpRegistry.fromHandlers(handlers);
            expect(registry.list().map((r) => r.op)).toEqual([...ops].sort((a, b) => a - b));
            for (const op of ops) {
              expect(registry.get(op)?.pattern).toBe(`p${op}`);
              expect(registry.get(op)?.handler).toBe(handlers.get(`p${op}`));
            }
          },
        ),
        { numRuns: 100 },
      );
    });

    it('rejects any set of handlers in which two claim the same op', () => {
      fc.assert(
        fc.property(
          fc.uniqueArray(fc.integer({ min: 1, max: REPLY_FLAG - 1 }), {
            minLength: 1,
            maxLength: 20,
          }),
          fc.nat(),
          (ops, pick) => {
            const dup = ops[pick % ops.length];
            const handlers = new Map(ops.map((op) => [`p${op}`, handler({ op })]));
            handlers.set('dup', handler({ op: dup }));
            const error = registryError(handlers);
            expect(error.message).toContain(`"p${dup}"`);
            expect(error.message).toContain('"dup"');
          },
        ),
        { numRuns: 100 },
      );
    });
  });
});
