import { Module } from '@nestjs/common';
import { GuardsModule } from '../guards/guards.module.js';
import { SessionModule } from '../session/session.module.js';
import { AuthService } from './auth.service.js';
import { LoginController } from './login.controller.js';

@Module({
  imports: [SessionModule, GuardsModule],
  controllers: [LoginController],
  providers: [AuthService],
  exports: [AuthService],
})
export class AuthModule {}
