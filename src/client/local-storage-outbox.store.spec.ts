import { LocalStorageOutboxStore } from './local-storage-outbox.store';

/** A Storage double: what a page's localStorage does, in a Map. */
function storage(initial: Record<string, string> = {}) {
  const map = new Map(Object.entries(initial));
  return {
    map,
    getItem: (key: string) => map.get(key) ?? null,
    setItem: (key: string, value: string) => void map.set(key, value),
  };
}

describe('LocalStorageOutboxStore', () => {
  const entry = { clientMsgId: 'c1', to: 'bob', content: { text: 'hi' }, queuedAt: 5 };

  it('keeps the outbox as JSON under its key, in order', () => {
    const page = storage();
    const store = new LocalStorageOutboxStore('longlink:outbox:alice', page);
    expect(store.load()).toEqual([]);
    store.save([entry, { ...entry, clientMsgId: 'c2' }]);
    const reloaded = new LocalStorageOutboxStore('longlink:outbox:alice', page);
    expect(reloaded.load().map((e) => e.clientMsgId)).toEqual(['c1', 'c2']);
  });

  it('drops what save() did not write rather than send it', () => {
    const page = storage({ a: 'not json', b: '{"x":1}', c: JSON.stringify([entry, { to: 'x' }]) });
    expect(new LocalStorageOutboxStore('a', page).load()).toEqual([]);
    expect(new LocalStorageOutboxStore('b', page).load()).toEqual([]);
    expect(new LocalStorageOutboxStore('c', page).load()).toEqual([entry]);
  });
});
