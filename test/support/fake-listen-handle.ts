import { Server as NetServer } from 'node:net';

/**
 * A stand-in for a listening net.Server whose internal handle EarlyRefusal patches
 * (`_handle.onconnection`), or one without that handle; `passed` collects the client
 * handles the patched onconnection lets through to the original.
 */
export function fakeListenServer(withHandle = true) {
  const passed: unknown[] = [];
  const handle = {
    onconnection(_err: number, client: unknown) {
      passed.push(client);
    },
  };
  const server = (withHandle ? { _handle: handle } : {}) as unknown as NetServer;
  return { server, handle, passed };
}

/** A stand-in for an accepted client's handle from `address`: getpeername, and a recorded close. */
export function fakeClientHandle(address: string) {
  return {
    address,
    closed: false,
    getpeername(out: { address?: string }) {
      out.address = address;
      return 0;
    },
    close() {
      this.closed = true;
    },
  };
}
