import { Injectable } from '@nestjs/common';
import { SessionService } from '../../src/session/session.service';
import { ExampleOp } from './example.ops';

/** Pushes a POKED PDU to another user through SessionService. */
@Injectable()
export class PokeService {
  constructor(private readonly sessions: SessionService) {}

  poke(from: string, to: string, note?: string): boolean {
    return this.sessions.push(to, ExampleOp.POKED, { from, note: note ?? null });
  }
}
