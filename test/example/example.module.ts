import { Module } from '@nestjs/common';
import { SessionModule } from '../../src/session/session.module';
import { ExampleController } from './example.controller';
import { PokeService } from './poke.service';

/** A feature module of the test suite's own: new PDUs with no edit to the transport. */
@Module({
  imports: [SessionModule],
  controllers: [ExampleController],
  providers: [PokeService],
})
export class ExampleModule {}
